// The command-line conventions every mtfcdd program shares, on CLI11: `--help` on the program and
// on each subcommand, generated from the declared options with their defaults, exits 0; bad usage
// prints "PROGRAM [SUBCOMMAND]: what is wrong" and where the options are listed, and exits 2.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <initializer_list>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "names.hpp"

namespace mtfcdd::cli {

constexpr int kUsageError = 2;

// The shared settings; call before adding options and subcommands, which inherit them.
inline void configure(CLI::App& app) {
  app.option_defaults()->always_capture_default();
  app.set_help_flag("-h,--help", "print this help and exit");
  app.get_formatter()->column_width(34);
}

// The names of Names<E>, or of `only` when given, in the table's order.
template <class E>
std::vector<std::string> names_of(std::initializer_list<E> only = {}) {
  std::vector<std::string> names;
  for (const auto& entry : Names<E>::table)
    if (only.size() == 0 || std::find(only.begin(), only.end(), entry.first) != only.end()) names.push_back(entry.second);
  return names;
}

// An option taking one of the names of Names<E>, or of `only` when given (listed by --help,
// anything else refused).
template <class E>
CLI::Option* add_choice(CLI::App* app, const std::string& flag, E& value, const std::string& description,
                        std::initializer_list<E> only = {}) {
  const std::vector<std::string> names = names_of<E>(only);
  return app
      ->add_option_function<std::string>(
          flag, [&value](const std::string& s) { value = *parse_name<E>(s); }, description)
      ->check(CLI::IsMember(names))
      ->default_str(name_of(value));
}

// The same for a choice that may stay unset, `unset_name` (say "auto") on the command line.
template <class E>
CLI::Option* add_choice(CLI::App* app, const std::string& flag, std::optional<E>& value, const std::string& unset_name,
                        const std::string& description) {
  std::vector<std::string> names = names_of<E>();
  names.insert(names.begin(), unset_name);
  return app
      ->add_option_function<std::string>(
          flag, [&value, unset_name](const std::string& s) { value = s == unset_name ? std::nullopt : parse_name<E>(s); },
          description)
      ->check(CLI::IsMember(names))
      ->default_str(value ? name_of(*value) : unset_name);
}

// The program and the subcommands given on its command line, e.g. "vision-host run".
inline std::string command_name(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* a = &app; !a->get_subcommands().empty();) {
    a = a->get_subcommands().front();
    name += " " + a->get_name();
  }
  return name;
}

// Parses argv into `app`. Returns nothing when the program should go on, else its exit code:
// 0 after printing the help asked for, kUsageError after reporting bad usage on stderr.
inline std::optional<int> parse(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    const std::string name = command_name(app);
    std::cerr << name << ": " << e.what() << "\n(" << name << " --help lists the options)\n";
    return kUsageError;
  }
}

}  // namespace mtfcdd::cli
