#include "plugin_loader.hpp"

#include <filesystem>
#include <stdexcept>

namespace mtfcdd::host {

LoadedPlugin::LoadedPlugin(const std::string& path) : path_(path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("plugin " + path + ": no such file");
  boost::dll::fs::error_code ec;
  lib_.load(path, boost::dll::load_mode::rtld_local | boost::dll::load_mode::rtld_now, ec);
  if (ec) throw std::runtime_error("plugin " + path + ": cannot load: " + ec.message());
  if (!lib_.has("vp_get_api"))
    throw std::runtime_error("plugin " + path + ": no vp_get_api entry point (not a vision plugin)");
  // get<Sig> takes the function type, not a pointer type.
  auto& get_api = lib_.get<const VpApi*(uint32_t)>("vp_get_api");
  api_ = get_api(VP_ABI_VERSION);
  if (!api_)
    throw std::runtime_error("plugin " + path + ": does not serve vision plugin ABI version " +
                             std::to_string(VP_ABI_VERSION) + " (too old for this host)");
  if (api_->struct_size < sizeof(VpApi) || api_->abi_version < VP_ABI_VERSION)
    throw std::runtime_error("plugin " + path + ": its function table is older than ABI version " +
                             std::to_string(VP_ABI_VERSION));
  info_ = api_->get_info();
  if (!info_) throw std::runtime_error("plugin " + path + ": get_info returned NULL");
}

}  // namespace mtfcdd::host
