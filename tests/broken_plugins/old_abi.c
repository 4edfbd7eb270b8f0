/* A plugin built for ABI version 1: it serves that version only, so a host built for a later
 * version gets NULL and must refuse it as too old (its results would lack the later fields). */
#include <stddef.h>

#include "vision_plugin.h"

static const VpPluginInfo* get_info(void) {
  static const VpPluginInfo info = {sizeof(VpPluginInfo), 1, 8, "old", "0.0.1", "serves ABI version 1 only"};
  return &info;
}

/* Never called: no host gets past the version check. */
static const VpApi kApi = {sizeof(VpApi), 1, get_info, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

VP_EXPORT const VpApi* vp_get_api(uint32_t abi_version) { return abi_version == 1 ? &kApi : NULL; }
