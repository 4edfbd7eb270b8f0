/* vp_run: load a vision plugin, run one image, print per-type results.
 * Written from vision_plugin.h alone, in plain C.
 *
 *   vp_run PLUGIN.so CONFIG.json [IMAGE.pgm|IMAGE.ppm]
 *
 * CONFIG.json is the plugin's configuration; relative paths in it resolve against its folder.
 * Without an image, a generated grey gradient is used. */
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision_plugin.h"

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) buf[n] = 0;
  else { free(buf); buf = NULL; }
  fclose(f);
  return buf;
}

/* Binary PGM (P5) or PPM (P6), maxval 255. */
static unsigned char* read_pnm(const char* path, VpImage* im) {
  FILE* f = fopen(path, "rb");
  char magic[3] = {0};
  int w, h, maxval;
  if (!f) return NULL;
  if (fscanf(f, "%2s %d %d %d", magic, &w, &h, &maxval) != 4 || maxval != 255 || w < 1 || h < 1 ||
      (strcmp(magic, "P5") && strcmp(magic, "P6"))) { fclose(f); return NULL; }
  fgetc(f);
  int channels = strcmp(magic, "P5") ? 3 : 1;
  unsigned char* data = malloc((size_t)w * h * channels);
  if (data && fread(data, 1, (size_t)w * h * channels, f) != (size_t)w * h * channels) { free(data); data = NULL; }
  fclose(f);
  im->width = w;
  im->height = h;
  im->stride = w * channels;
  im->format = channels == 1 ? VP_PIXEL_GRAY8 : VP_PIXEL_RGB8;
  return data;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PLUGIN.so CONFIG.json [IMAGE.pgm|IMAGE.ppm]\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror()); return 1; }
  VpGetApiFn get_api = (VpGetApiFn)dlsym(lib, "vp_get_api");
  const VpApi* api = get_api ? get_api(VP_ABI_VERSION) : NULL;
  if (!api) { fprintf(stderr, "%s does not serve ABI version %u\n", argv[1], VP_ABI_VERSION); return 1; }
  const VpPluginInfo* info = api->get_info();
  printf("plugin %s %s (ABI %u)\n", info->name, info->version, info->abi_version);

  char* config = read_file(argv[2]);
  if (!config) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
  char* cfg_copy = strdup(argv[2]);
  VpDetector* det = NULL;
  VpStatus st = api->create(config, dirname(cfg_copy), &det);
  free(config);
  free(cfg_copy);
  if (st != VP_OK) { fprintf(stderr, "create failed (%d): %s\n", st, api->last_error(NULL)); return 1; }

  VpImage im;
  memset(&im, 0, sizeof im);
  im.struct_size = sizeof im;
  unsigned char* pixels = NULL;
  if (argc > 3) {
    pixels = read_pnm(argv[3], &im);
    if (!pixels) { fprintf(stderr, "cannot read %s (binary PGM/PPM, maxval 255)\n", argv[3]); return 1; }
  } else {
    im.width = im.height = im.stride = 256;
    im.format = VP_PIXEL_GRAY8;
    pixels = malloc(256 * 256);
    for (int i = 0; i < 256 * 256; ++i) pixels[i] = (unsigned char)(i % 256);
  }
  im.data = pixels;

  VpResult* res = NULL;
  st = api->process(det, &im, 1, &res);
  if (st != VP_OK) { fprintf(stderr, "process failed (%d): %s\n", st, api->last_error(det)); return 1; }
  const VpFrameResult* fr = VP_ELEMENT(VpFrameResult, res->frames, 0);
  printf("decision: %s; action: %s %s", fr->decision ? "DEFECT" : "ok", fr->action, fr->action_params);
  if (fr->decisive_type >= 0 && (uint32_t)fr->decisive_type < fr->type_count)
    printf(", decided by %s", VP_ELEMENT(VpTypeResult, fr->types, fr->decisive_type)->name);
  printf("\n");
  for (uint32_t k = 0; k < fr->type_count; ++k) {
    const VpTypeResult* t = VP_ELEMENT(VpTypeResult, fr->types, k);
    printf("  %-16s z %.4f  p %.4f  threshold %.4f  %s  %u regions (A >= %.4g)", t->name, t->score, t->probability,
           t->threshold, t->decision ? "DEFECT" : "ok", t->region_count, t->pixel_threshold);
    if (t->region_count)
      printf("  largest at (%d,%d) %dx%d", t->regions[0].x, t->regions[0].y, t->regions[0].width, t->regions[0].height);
    printf("\n");
  }
  printf("time: preprocess %.2f ms, inference %.2f ms, postprocess %.2f ms\n", fr->preprocess_ms, fr->inference_ms,
         fr->postprocess_ms);
  api->release_result(res);
  api->destroy(det);
  free(pixels);
  dlclose(lib);
  return 0;
}
