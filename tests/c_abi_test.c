/* ABI conformance of a vision plugin, from plain C: version negotiation, struct sizes, NULL
 * safety of every function, bad images, real runs, and hosts of ABI version 1 beside it.
 *   c_abi_test PLUGIN.so BUNDLE_DIR */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vision_plugin.h"

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

/* The result structs as a host built against ABI version 1 declares them. */
typedef struct TypeResultV1 {
  uint32_t struct_size;
  const char* name;
  float score, probability, threshold;
  int32_t decision;
  VpHeatmap heatmap, heatmap_full;
  const VpRegion* regions;
  uint32_t region_count;
} TypeResultV1;
typedef struct FrameResultV1 {
  uint32_t struct_size;
  int32_t decision;
  const VpTypeResult* types;
  uint32_t type_count;
  const char *action, *action_params, *matches;
  double preprocess_ms, inference_ms, postprocess_ms;
} FrameResultV1;

/* ... and against version 2. */
typedef struct TypeResultV2 {
  TypeResultV1 v1;
  double pixel_threshold;
} TypeResultV2;

/* Each version's fields lie past the previous version's structs, tail padding included: VP_HAS_FIELD can tell. */
_Static_assert(offsetof(VpTypeResult, pixel_threshold) >= sizeof(TypeResultV1), "pixel_threshold in v1's size");
_Static_assert(offsetof(VpTypeResult, pixel_threshold) == offsetof(TypeResultV2, pixel_threshold), "v2's layout");
_Static_assert(offsetof(VpTypeResult, configured_pixel_threshold) >= sizeof(TypeResultV2),
               "configured_pixel_threshold in v2's size");
_Static_assert(offsetof(VpFrameResult, decisive_type) >= sizeof(FrameResultV1), "decisive_type in v1's size");

static VpImage gray(int w, int h, const unsigned char* data) {
  VpImage im;
  memset(&im, 0, sizeof im);
  im.struct_size = sizeof im;
  im.width = w;
  im.height = h;
  im.stride = w;
  im.format = VP_PIXEL_GRAY8;
  im.data = data;
  return im;
}

/* Configs an outside client found crashing or misreported: each is VP_ERR_CONFIG naming the cause,
 * with a message of at most 1024 bytes. */
static void check_hostile_configs(const VpApi* api, const char* bundle) {
  enum { kDepth = 100000, kLong = 1 << 20 };
  char* config = malloc(2 * kDepth + kLong + 4096);
  VpDetector* det = (VpDetector*)0x1;

  snprintf(config, 4096, "{\"model\": \"%s\", \"threads\": 100000}", bundle);
  CHECK(api->create(config, NULL, &det) == VP_ERR_CONFIG && det == NULL);
  CHECK(strstr(api->last_error(NULL), "threads") != NULL);

  /* An action parameter 100,000 arrays deep (it overflowed the stack while the JSON was copied). */
  int n = snprintf(config, 4096, "{\"model\": \"%s\", \"routing\": {\"default\": \"pass\", \"actions\": {\"pass\": {\"p\": ", bundle);
  memset(config + n, '[', kDepth);
  memset(config + n + kDepth, ']', kDepth);
  strcpy(config + n + 2 * kDepth, "}}}}");
  CHECK(api->create(config, NULL, &det) == VP_ERR_CONFIG && det == NULL);
  CHECK(strstr(api->last_error(NULL), "nested deeper than 64") != NULL);

  /* A 1 MiB model path is echoed cut short. */
  strcpy(config, "{\"model\": \"");
  memset(config + 11, 'x', kLong);
  strcpy(config + 11 + kLong, "\"}");
  CHECK(api->create(config, NULL, &det) == VP_ERR_MODEL && det == NULL);
  CHECK(strlen(api->last_error(NULL)) <= 1024);

  snprintf(config, 4096, "{\"model\": \"%s\", \"backend\": \"tpu\"}", bundle);
  CHECK(api->create(config, NULL, &det) == VP_ERR_CONFIG && strstr(api->last_error(NULL), "tpu"));
  snprintf(config, 4096, "{\"model\": \"%s\", \"conv\": \"bogus\"}", bundle);
  CHECK(api->create(config, NULL, &det) == VP_ERR_CONFIG && strstr(api->last_error(NULL), "bogus"));

  /* Successes leave last_error(NULL) as it was (the header says so). */
  snprintf(config, 4096, "{\"model\": \"%s\"}", bundle);
  CHECK(api->create(config, NULL, &det) == VP_OK);
  CHECK(strstr(api->last_error(NULL), "bogus") != NULL);
  api->destroy(det);
  free(config);
}

/* A base_dir that is not UTF-8 (a Latin-1 folder name): describe() still gives its JSON, the
 * invalid byte replaced by U+FFFD (it used to fail with a JSON type error). */
static void check_non_utf8_path(const VpApi* api, const char* bundle) {
  char link[256];
  snprintf(link, sizeof link, "/tmp/mtfcdd_c_abi_%d_\xe9t\xe9", (int)getpid());
  unlink(link);
  CHECK(symlink(bundle, link) == 0);
  VpDetector* det = NULL;
  const char* json = NULL;
  CHECK(api->create("{\"model\": \".\"}", link, &det) == VP_OK);
  CHECK(det && api->describe(det, &json) == VP_OK && json && strstr(json, "_\xef\xbf\xbdt\xef\xbf\xbd/."));
  api->destroy(det);
  unlink(link);
}

/* A host built against a future header whose VpImage is larger: process() steps the array by the
 * images' struct_size, and refuses an array whose elements disagree on it. */
static void check_larger_struct_stride(const VpApi* api, VpDetector* det, const VpImage* im) {
  typedef struct {
    VpImage base;
    uint64_t future_fields[3];
  } FutureImage;
  FutureImage two[2];
  memset(two, 0x7f, sizeof two);  /* fields this plugin does not know hold garbage */
  for (int i = 0; i < 2; ++i) {
    two[i].base = *im;
    two[i].base.struct_size = sizeof(FutureImage);
  }
  two[1].base.width = im->width / 2;  /* the same rows, half of each */
  VpResult* res = NULL;
  CHECK(api->process(det, &two[0].base, 2, &res) == VP_OK);
  if (res) {
    CHECK(res->frame_count == 2);
    CHECK(VP_ELEMENT(VpFrameResult, res->frames, 1)->types[0].heatmap_full.width == im->width / 2);
  }
  api->release_result(res);
  two[1].base.struct_size = sizeof(VpImage);
  CHECK(api->process(det, &two[0].base, 2, &res) == VP_ERR_INVALID_ARGUMENT && res == NULL);
  CHECK(strstr(api->last_error(det), "struct_size") != NULL);
}

/* describe()'s pixel_threshold of type k: the types are the one array that has the key. */
static double described_pixel_threshold(const VpApi* api, VpDetector* det, uint32_t k) {
  const char* json = NULL;
  if (api->describe(det, &json) != VP_OK) return -1e300;
  const char* p = json;
  for (uint32_t i = 0; i <= k && p; ++i) {
    p = strstr(p, "\"pixel_threshold\":");
    if (p) p += strlen("\"pixel_threshold\":");
  }
  return p ? strtod(p, NULL) : -1e300;
}

static VpResult* run_one(const VpApi* api, VpDetector* det, const VpImage* im) {
  VpResult* res = NULL;
  CHECK(api->process(det, im, 1, &res) == VP_OK && res && res->frame_count == 1);
  if (!res) fprintf(stderr, "process: %s\n", api->last_error(det));
  return res;
}

/* The highest value of type 0's frame-sized map (heatmap_full), 0 without one. */
static float full_map_peak(const VpApi* api, VpDetector* det, const VpImage* im) {
  VpResult* res = run_one(api, det, im);
  float peak = 0;
  if (res) {
    const VpHeatmap* h = &VP_ELEMENT(VpTypeResult, res->frames->types, 0)->heatmap_full;
    for (int32_t i = 0; h->data && i < h->width * h->height; ++i)
      if (h->data[i] > peak) peak = h->data[i];
  }
  api->release_result(res);
  return peak;
}

/* ABI 2 and 3: pixel_threshold is describe()'s threshold in force, configured_pixel_threshold the
 * type's own; decisive_type is the routed decision's type: the decisive rule's type, else the most
 * probable positive type, else -1 (frames of 3 types: scratch, pit, stain; routing: scratch ->
 * "check"). */
static void check_newer_fields(const VpApi* api, VpDetector* det, const VpImage* im) {
  CHECK(api->reconfigure(det, "{\"thresholds\": {\"scratch\": {\"image\": 0, \"pixel\": 0.375},"
                              " \"pit\": {\"image\": 0, \"pixel\": 0.125}, \"stain\": {\"image\": 0}}}") == VP_OK);
  VpResult* res = run_one(api, det, im);
  if (res) {
    const VpFrameResult* f = res->frames;
    CHECK(VP_HAS_FIELD(VpFrameResult, f, decisive_type));
    CHECK(f->decisive_type == 0 && strcmp(f->action, "check") == 0);  /* the scratch rule decides */
    for (uint32_t k = 0; k < f->type_count; ++k) {
      const VpTypeResult* t = VP_ELEMENT(VpTypeResult, f->types, k);
      CHECK(VP_HAS_FIELD(VpTypeResult, t, pixel_threshold));
      CHECK(t->pixel_threshold == described_pixel_threshold(api, det, k));
    }
    CHECK(VP_ELEMENT(VpTypeResult, f->types, 0)->pixel_threshold == 0.375);
    CHECK(VP_ELEMENT(VpTypeResult, f->types, 1)->pixel_threshold == 0.125);
  }
  api->release_result(res);

  /* ABI 3: with the type's own threshold at half its map's peak, a share of 0.99 raises the
   * threshold in force to 0.99 of the peak; the configured one stays beside it. */
  const float peak = full_map_peak(api, det, im);
  CHECK(peak > 0);
  char config[256];
  snprintf(config, sizeof config,
           "{\"thresholds\": {\"scratch\": {\"image\": 0, \"pixel\": %.9g, \"peak_fraction\": 0.99}}}",
           0.5 * peak);
  CHECK(api->reconfigure(det, config) == VP_OK);
  res = run_one(api, det, im);
  if (res) {
    const VpTypeResult* t = VP_ELEMENT(VpTypeResult, res->frames->types, 0);
    CHECK(VP_HAS_FIELD(VpTypeResult, t, configured_pixel_threshold));
    CHECK(t->configured_pixel_threshold == described_pixel_threshold(api, det, 0));
    CHECK(t->pixel_threshold == 0.99 * peak && t->pixel_threshold > t->configured_pixel_threshold);
  }
  api->release_result(res);

  /* No rule matches (scratch is clean): the most probable of pit and stain, the first on a tie. */
  CHECK(api->reconfigure(det, "{\"thresholds\": {\"scratch\": {\"image\": 1e30}}}") == VP_OK);
  res = run_one(api, det, im);
  if (res) {
    const VpFrameResult* f = res->frames;
    const float p1 = VP_ELEMENT(VpTypeResult, f->types, 1)->probability;
    const float p2 = VP_ELEMENT(VpTypeResult, f->types, 2)->probability;
    CHECK(f->decision == 1 && strcmp(f->matches, "[]") == 0 && strcmp(f->action, "pass") == 0);
    CHECK(f->decisive_type == (p2 > p1 ? 2 : 1));
  }
  api->release_result(res);

  /* A clean frame: no decisive type. */
  CHECK(api->reconfigure(det, "{\"thresholds\": {\"pit\": {\"image\": 1e30}, \"stain\": {\"image\": 1e30}}}") == VP_OK);
  res = run_one(api, det, im);
  if (res) CHECK(res->frames->decision == 0 && res->frames->decisive_type == -1);
  api->release_result(res);
}

/* A host built against version 1 gets the same table and reads the larger results through its own
 * layout, stepping by struct_size; a newer host handed version-1- or version-2-sized structs (an
 * older plugin's) steps them alike and finds the newer fields absent. */
static void check_version1_structs(const VpApi* api, VpGetApiFn get_api, VpDetector* det, const VpImage* im) {
  CHECK(get_api(1) == api);
  VpResult* res = run_one(api, det, im);
  if (!res) return;
  const VpFrameResult* f = res->frames;
  const FrameResultV1* f1 = (const FrameResultV1*)f;
  enum { kTypes = 3 };
  CHECK(f1->type_count == kTypes && strcmp(f1->action, f->action) == 0);
  /* An older plugin's arrays. The unions leave room for the types the host reads them as: UBSan
   * checks member accesses against a local object's size (a plugin's heap blocks it cannot size). */
  union {
    TypeResultV1 v1[kTypes];
    char room[kTypes * sizeof(TypeResultV1) + sizeof(VpTypeResult)];
  } old_types;
  TypeResultV1* old = old_types.v1;
  for (uint32_t k = 0; k < kTypes && k < f1->type_count; ++k) {
    const TypeResultV1* t1 = (const TypeResultV1*)((const char*)f1->types + k * f1->types->struct_size);
    const VpTypeResult* t = VP_ELEMENT(VpTypeResult, f->types, k);
    CHECK(strcmp(t1->name, t->name) == 0 && t1->score == t->score && t1->decision == t->decision);
    old[k] = *t1;
    old[k].struct_size = sizeof(TypeResultV1);
  }
  const VpTypeResult* older = (const VpTypeResult*)old;
  for (uint32_t k = 0; k < kTypes; ++k) {
    const VpTypeResult* t = VP_ELEMENT(VpTypeResult, older, k);
    CHECK(!VP_HAS_FIELD(VpTypeResult, t, pixel_threshold));
    CHECK(strcmp(t->name, VP_ELEMENT(VpTypeResult, f->types, k)->name) == 0);
    CHECK(t->score == VP_ELEMENT(VpTypeResult, f->types, k)->score);
  }
  /* A version-2 plugin's type result: the threshold in force, not the configured one. */
  union {
    TypeResultV2 v2;
    VpTypeResult room;
  } v2_type;
  v2_type.v2.v1 = old[0];
  v2_type.v2.v1.struct_size = sizeof(TypeResultV2);
  v2_type.v2.pixel_threshold = 0.5;
  CHECK(VP_HAS_FIELD(VpTypeResult, &v2_type.room, pixel_threshold) && v2_type.room.pixel_threshold == 0.5);
  CHECK(!VP_HAS_FIELD(VpTypeResult, &v2_type.room, configured_pixel_threshold));
  union {
    FrameResultV1 v1;
    VpFrameResult room;
  } old_frame;
  old_frame.v1 = *f1;
  old_frame.v1.struct_size = sizeof(FrameResultV1);
  CHECK(!VP_HAS_FIELD(VpFrameResult, &old_frame.room, decisive_type));
  CHECK(VP_HAS_FIELD(VpFrameResult, f, decisive_type));
  api->release_result(res);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PLUGIN.so BUNDLE_DIR\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 1; }
  VpGetApiFn get_api = (VpGetApiFn)dlsym(lib, "vp_get_api");
  CHECK(get_api != NULL);
  if (!get_api) return 1;

  /* Version negotiation: too new and 0 give NULL; the current one a table of the right size. */
  CHECK(get_api(VP_ABI_VERSION + 1) == NULL);
  CHECK(get_api(0) == NULL);
  const VpApi* api = get_api(VP_ABI_VERSION);
  CHECK(api != NULL);
  if (!api) return 1;
  CHECK(api->struct_size == sizeof(VpApi));
  CHECK(api->abi_version == VP_ABI_VERSION);
  const VpPluginInfo* info = api->get_info();
  CHECK(info && info->struct_size == sizeof(VpPluginInfo) && info->abi_version >= 1);
  CHECK(info->name && strcmp(info->name, "mtfcdd") == 0 && info->version && info->version[0]);

  /* NULL safety of every function. */
  api->destroy(NULL);
  api->release_result(NULL);
  CHECK(api->last_error(NULL) != NULL);
  VpDetector* det = (VpDetector*)0x1;
  CHECK(api->create(NULL, NULL, &det) == VP_ERR_INVALID_ARGUMENT && det == NULL);
  CHECK(api->create("{}", NULL, NULL) == VP_ERR_INVALID_ARGUMENT);
  CHECK(api->create("{not json", NULL, &det) == VP_ERR_CONFIG && det == NULL);
  CHECK(strstr(api->last_error(NULL), "JSON") != NULL);
  CHECK(api->create("{}", NULL, &det) == VP_ERR_CONFIG);
  CHECK(strstr(api->last_error(NULL), "model") != NULL);
  CHECK(api->create("{\"model\": \"/nonexistent\"}", NULL, &det) == VP_ERR_MODEL);
  CHECK(api->create("{\"model\": \"x\", \"colour\": 1}", NULL, &det) == VP_ERR_CONFIG);
  const char* json = NULL;
  CHECK(api->describe(NULL, &json) == VP_ERR_INVALID_ARGUMENT);
  CHECK(api->reconfigure(NULL, "{}") == VP_ERR_INVALID_ARGUMENT);
  VpResult* res = (VpResult*)0x1;
  CHECK(api->process(NULL, NULL, 1, &res) == VP_ERR_INVALID_ARGUMENT && res == NULL);

  /* describe's output is NULL after a failure. */
  json = (const char*)0x1;
  CHECK(api->describe(NULL, &json) == VP_ERR_INVALID_ARGUMENT && json == NULL);

  check_hostile_configs(api, argv[2]);
  check_non_utf8_path(api, argv[2]);

  /* A real detector. */
  char config[4096];
  snprintf(config, sizeof config,
           "{\"model\": \"%s\", \"heatmaps\": {\"model\": true, \"full\": true},"
           " \"routing\": {\"actions\": {\"pass\": {}, \"check\": {\"station\": 2}},"
           " \"rules\": [{\"types\": [\"scratch\"], \"action\": \"check\", \"priority\": 1}], \"default\": \"pass\"}}",
           argv[2]);
  CHECK(api->create(config, NULL, &det) == VP_OK);
  if (!det) { fprintf(stderr, "create: %s\n", api->last_error(NULL)); return 1; }
  CHECK(api->describe(det, NULL) == VP_ERR_INVALID_ARGUMENT);
  CHECK(api->describe(det, &json) == VP_OK && json && strstr(json, "\"backend\""));
  CHECK(api->reconfigure(det, NULL) == VP_ERR_INVALID_ARGUMENT);
  CHECK(api->reconfigure(det, "{\"model\": \"other\"}") == VP_ERR_CONFIG);
  CHECK(strlen(api->last_error(det)) > 0);
  CHECK(api->reconfigure(det, "{\"thresholds\": {\"scratch\": {\"image\": 0, \"pixel\": 0}}}") == VP_OK);

  unsigned char* px = calloc(100 * 80, 1);
  for (int i = 0; i < 100 * 80; ++i) px[i] = (unsigned char)(i * 7);
  VpImage ok = gray(100, 80, px);
  CHECK(api->process(det, &ok, 1, NULL) == VP_ERR_INVALID_ARGUMENT);
  CHECK(api->process(det, NULL, 1, &res) == VP_ERR_INVALID_ARGUMENT);
  CHECK(api->process(det, &ok, 0, &res) == VP_ERR_INVALID_ARGUMENT);
  VpImage bad = ok; bad.data = NULL;
  CHECK(api->process(det, &bad, 1, &res) == VP_ERR_INVALID_ARGUMENT && res == NULL);
  bad = ok; bad.width = 0;
  CHECK(api->process(det, &bad, 1, &res) == VP_ERR_INVALID_ARGUMENT);
  bad = ok; bad.height = VP_MAX_SIDE + 1;
  CHECK(api->process(det, &bad, 1, &res) == VP_ERR_INVALID_ARGUMENT);
  bad = ok; bad.stride = 99;
  CHECK(api->process(det, &bad, 1, &res) == VP_ERR_INVALID_ARGUMENT);
  CHECK(strstr(api->last_error(det), "stride") != NULL);
  bad = ok; bad.format = 99;
  CHECK(api->process(det, &bad, 1, &res) == VP_ERR_INVALID_ARGUMENT);
  bad = ok; bad.struct_size = 4;
  CHECK(api->process(det, &bad, 1, &res) == VP_ERR_INVALID_ARGUMENT);

  check_larger_struct_stride(api, det, &ok);
  check_version1_structs(api, get_api, det, &ok);

  /* Two frames in one call, the second as RGB with padding in its stride. */
  unsigned char* rgb = calloc(64 * 3 * 50 + 64 * 8, 1);
  VpImage frames[2] = {ok, ok};
  frames[1].width = 64; frames[1].height = 50; frames[1].format = VP_PIXEL_RGB8; frames[1].stride = 64 * 3 + 8;
  frames[1].data = rgb;
  CHECK(api->process(det, frames, 2, &res) == VP_OK);
  if (res) {
    CHECK(res->struct_size == sizeof(VpResult) && res->frame_count == 2);
    const VpFrameResult* f = &res->frames[0];
    CHECK(f->struct_size == sizeof(VpFrameResult) && f->type_count == 3);
    CHECK(strcmp(f->types[0].name, "scratch") == 0 && f->types[0].threshold == 0.0f);
    CHECK(f->types[0].decision == 1 && f->decision == 1);  /* threshold 0: always a defect */
    CHECK(strcmp(f->action, "check") == 0 && strstr(f->action_params, "\"station\":2"));
    CHECK(f->types[0].heatmap.data && f->types[0].heatmap.width > 0);
    CHECK(f->types[0].heatmap_full.width == 100 && f->types[0].heatmap_full.height == 80);
    CHECK(f->types[0].region_count >= 1 && f->types[0].regions[0].area > 0);
    /* ABI 3: each region's calipers, within its bounding box's diagonal (+1) and at least a pixel. */
    CHECK(f->types[0].region_shapes != NULL);
    for (uint32_t r = 0; f->types[0].region_shapes && r < f->types[0].region_count; ++r) {
      const VpRegion* g = &f->types[0].regions[r];
      const VpRegionShape* s = &f->types[0].region_shapes[r];
      CHECK(s->width >= 1 && s->width <= s->length);
      const double reach = (double)(g->width - 1) * (g->width - 1) + (double)(g->height - 1) * (g->height - 1);
      CHECK((s->length - 1.0) * (s->length - 1.0) <= reach + 1e-3);
    }
    CHECK(res->frames[1].types[0].heatmap_full.width == 64);
    for (uint32_t k = 0; k < f->type_count; ++k)
      CHECK(f->types[k].probability >= 0 && f->types[k].probability <= 1 && f->types[k].struct_size == sizeof(VpTypeResult));
  }
  api->release_result(res);
  check_newer_fields(api, det, &ok);
  api->destroy(det);
  free(px);
  free(rgb);
  dlclose(lib);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("c_abi_test: all checks passed\n");
  return failures ? 1 : 0;
}
