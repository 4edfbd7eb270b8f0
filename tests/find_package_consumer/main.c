#include <vision_plugin.h>

int main(void) { return VP_ABI_VERSION == 3u ? 0 : 1; }
