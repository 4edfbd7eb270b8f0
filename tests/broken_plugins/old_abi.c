/* A plugin built for an ABI older than the host's: it serves no version the host asks for. */
#include <stddef.h>

#include "vision_plugin.h"

VP_EXPORT const VpApi* vp_get_api(uint32_t abi_version) {
  (void)abi_version;
  return NULL;
}
