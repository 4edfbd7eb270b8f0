// Loads a vision plugin with Boost.DLL and negotiates its ABI version. The library stays
// loaded as long as this object (and every copy of the shared pointer) lives; detectors made
// from its table must be destroyed first.
#pragma once

#include <boost/dll/shared_library.hpp>
#include <memory>
#include <string>

#include "vision_plugin.h"

namespace mtfcdd::host {

class LoadedPlugin {
 public:
  // Throws std::runtime_error naming the path and the cause: file missing, not loadable, no
  // vp_get_api entry point, or an ABI too old for this host.
  explicit LoadedPlugin(const std::string& path);

  const VpApi& api() const { return *api_; }
  const VpPluginInfo& info() const { return *info_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  boost::dll::shared_library lib_;
  const VpApi* api_ = nullptr;
  const VpPluginInfo* info_ = nullptr;
};

}  // namespace mtfcdd::host
