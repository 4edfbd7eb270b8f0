/* vision_plugin.h - the C ABI between inspection hosts and vision plugins.
 *
 * Stability rules
 * - A plugin exports exactly one symbol, vp_get_api(). A host asks for the ABI version it was
 *   built against (VP_ABI_VERSION); the plugin returns its function table, or NULL when it
 *   cannot serve that version (for example a host newer than the plugin).
 * - The function table and every struct only ever grow at their end. Each struct starts with
 *   its size (struct_size), so both sides can tell which fields the other side knows: a plugin
 *   reads only the fields an input struct's struct_size covers, a host reads only the fields an
 *   output struct's struct_size covers (VP_HAS_FIELD). VpHeatmap, VpRegion and VpRegionShape
 *   carry no size and never change.
 * - Every addition bumps VP_ABI_VERSION (as ONNX Runtime's ORT_API_VERSION): the fields marked
 *   "ABI n" below came with version n. A plugin serves every version from 1 to its own with the
 *   same table, so older hosts keep working; a plugin that serves version n fills every field
 *   of version n, so its output structs are at least as large as that header's sizeof. A host
 *   that asks for its own version reads its header's fields without further checks; one that
 *   also accepts older plugins (asks again for a lower version) tests each newer field with
 *   VP_HAS_FIELD. A new field starts at or past the previous version's sizeof: in its tail
 *   padding, struct_size could not tell it from an older plugin's padding bytes.
 * - Arrays of sized structs are strided by struct_size: element i starts i * struct_size bytes
 *   after element 0, and every element of one array has the same struct_size. A plugin steps the
 *   host's VpImage array by images[0].struct_size (fields past it read as absent); a host steps
 *   VpResult.frames and VpFrameResult.types by their elements' struct_size (VP_ELEMENT below), as
 *   a newer plugin's elements may be larger than the host's sizeof.
 * - No C++ type and no exception crosses this boundary. Every call that can fail returns a
 *   VpStatus; last_error() gives the message of the last failure on a handle (or, for a NULL
 *   handle, of the last failed call on the calling thread, e.g. a failed create). Successes do
 *   not clear it: last_error(NULL) still returns an old failure's message after any number of
 *   successful calls, so read it only right after a call that failed.
 * - After a failed call, every output pointer the call was given (create's *out, describe's
 *   *json_out, process's *out) is NULL; nothing needs releasing.
 * - Error messages are at most 1024 bytes of UTF-8; a bad value they quote is cut to about 200.
 * - Release/destroy functions accept NULL.
 *
 * Memory
 * - Strings and arrays a result points to are owned by the plugin and stay valid until the host
 *   passes the result to release_result(). describe()'s string stays valid until the next call on
 *   the same handle or its destruction.
 *
 * Threads
 * - A detector handle is used by one thread at a time (one handle per worker thread); many
 *   handles may live and run in one process at once. get_info and vp_get_api are thread-safe.
 */
#ifndef VISION_PLUGIN_H
#define VISION_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1: the first version. 2: VpTypeResult.pixel_threshold, VpFrameResult.decisive_type.
 * 3: VpTypeResult.configured_pixel_threshold and region_shapes. */
#define VP_ABI_VERSION 3u

#if defined(_WIN32)
#define VP_EXPORT __declspec(dllexport)
#else
#define VP_EXPORT __attribute__((visibility("default")))
#endif

typedef enum VpStatus {
  VP_OK = 0,
  VP_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, bad size, stride or format */
  VP_ERR_CONFIG = 2,           /* configuration or routing JSON rejected */
  VP_ERR_MODEL = 3,            /* model bundle missing, corrupt or not matching its manifest */
  VP_ERR_BACKEND = 4,          /* the requested compute backend is unavailable */
  VP_ERR_RUNTIME = 5,          /* inference failed, or produced NaN / infinity */
  VP_ERR_INTERNAL = 6          /* anything else; the message says what */
} VpStatus;

typedef enum VpPixelFormat {
  VP_PIXEL_GRAY8 = 1, /* 1 byte per pixel */
  VP_PIXEL_BGR8 = 2,  /* 3 bytes per pixel, B G R */
  VP_PIXEL_RGB8 = 3,  /* 3 bytes per pixel, R G B */
  VP_PIXEL_BGRA8 = 4  /* 4 bytes per pixel, B G R A (alpha ignored) */
} VpPixelFormat;

/* Limits an image must respect: 1 .. VP_MAX_SIDE pixels per side, a stride of at most
 * VP_MAX_STRIDE bytes; and one process() call takes 1 .. VP_MAX_BATCH images. A VpImage's
 * struct_size must be at most 4096 bytes. */
#define VP_MAX_SIDE 32768
#define VP_MAX_STRIDE 131072
#define VP_MAX_BATCH 1024

/* The struct_size a sized struct starts with, read as such: the struct may be an older, smaller
 * version of the type the pointer names. */
#define VP_STRUCT_SIZE(s) (*(const uint32_t*)(const void*)(s))

/* Element i of an array of sized structs (see "Arrays of sized structs" above), e.g.
 * VP_ELEMENT(VpTypeResult, frame->types, k). */
#define VP_ELEMENT(type, array, i) \
  ((const type*)((const char*)(array) + (size_t)(i) * VP_STRUCT_SIZE(array)))

/* Whether the sized struct *s carries `field`, i.e. its struct_size covers it, e.g.
 * VP_HAS_FIELD(VpFrameResult, frame, decisive_type). */
#define VP_HAS_FIELD(type, s, field) \
  (VP_STRUCT_SIZE(s) >= offsetof(type, field) + sizeof(((const type*)0)->field))

typedef struct VpImage {
  uint32_t struct_size; /* sizeof(VpImage) */
  int32_t width;
  int32_t height;
  int32_t stride; /* bytes from one row to the next, >= width * bytes per pixel */
  int32_t format; /* a VpPixelFormat */
  const uint8_t* data;
  const char* category; /* optional object category for routing rules; NULL = none */
} VpImage;

typedef struct VpPluginInfo {
  uint32_t struct_size;
  uint32_t abi_version;  /* the newest ABI version this plugin serves */
  uint32_t api_version;  /* the plugin's own interface revision (number of table entries) */
  const char* name;      /* e.g. "mtfcdd" */
  const char* version;   /* the plugin's version, e.g. "0.1.0" */
  const char* description;
} VpPluginInfo;

/* A heatmap, row-major float32, width values per row; data is NULL when not produced. */
typedef struct VpHeatmap {
  int32_t width;
  int32_t height;
  const float* data;
} VpHeatmap;

/* A connected region of one type's map at or above its pixel threshold in force, in frame pixels. */
typedef struct VpRegion {
  int32_t x, y, width, height; /* bounding box */
  int64_t area;                /* pixels */
  float peak;                  /* highest map value inside */
  float mean;                  /* mean map value inside */
} VpRegion;

/* ABI 3: a region's caliper (Feret) diameters in frame pixels: over all directions, the largest and
 * the smallest distance between two parallel lines touching its pixel centres on both sides, plus
 * one pixel (one pixel is 1 x 1, a run of n pixels n x 1): a straight scratch's or crack's length
 * and width whatever its direction; of a curved one, its chord and its bow. */
typedef struct VpRegionShape {
  float length;
  float width;
} VpRegionShape;

typedef struct VpTypeResult {
  uint32_t struct_size;
  const char* name;
  float score;            /* z: the mean of the type's anomaly map */
  float probability;      /* p = 1 - exp(-z) */
  float threshold;        /* image threshold on z in force */
  int32_t decision;       /* 1 when score >= threshold */
  VpHeatmap heatmap;      /* at the model's heatmap resolution, when heatmaps are on; covers the
                             frame only (a model whose input keeps the aspect ratio returns the
                             part of its map over the frame, at the frame's aspect ratio) */
  VpHeatmap heatmap_full; /* at the frame's resolution, when configured */
  const VpRegion* regions;  /* region_count entries, largest first; not NULL when region_count > 0 */
  uint32_t region_count;
  double pixel_threshold; /* ABI 2: the threshold on the map value A in force: regions are where
                             the map at the frame's resolution (heatmap_full) is at least this;
                             it may differ from frame to frame (a double: a float would sit in
                             version 1's tail padding) */
  double configured_pixel_threshold; /* ABI 3: the type's own pixel threshold, before a share of
                                        the map's peak raised it to pixel_threshold (which is at
                                        least this); hosts shade maps against it, so a map far
                                        above it looks as strong as it is */
  const VpRegionShape* region_shapes; /* ABI 3: region_count entries, regions[i]'s shape at i;
                                         not NULL when region_count > 0 */
} VpTypeResult;

typedef struct VpFrameResult {
  uint32_t struct_size;
  int32_t decision;              /* 1 when any type's decision is 1 */
  const VpTypeResult* types;     /* in the model's channel order */
  uint32_t type_count;
  const char* action;            /* the decisive routed action's name (default action when clean) */
  const char* action_params;     /* its parameters as a JSON object */
  const char* matches;           /* every matched rule as a JSON array, decisive first */
  double preprocess_ms;          /* this frame's share of a batch */
  double inference_ms;
  double postprocess_ms;
  int32_t decisive_type;         /* ABI 2: index into types of the type that decided the action:
                                    the decisive (first) match's type; when no rule matched, the
                                    most probable type whose decision is 1 (the first on ties);
                                    -1 when no type's decision is 1 */
} VpFrameResult;

typedef struct VpResult {
  uint32_t struct_size;
  const VpFrameResult* frames;
  uint32_t frame_count;
} VpResult;

typedef struct VpDetector VpDetector; /* opaque */

typedef struct VpApi {
  uint32_t struct_size;
  uint32_t abi_version;

  /* Static information; never NULL. */
  const VpPluginInfo* (*get_info)(void);

  /* Creates a detector from a JSON configuration (the plugin's documentation lists the keys).
   * Relative paths in it resolve against base_dir (NULL = the current directory). JSON nested
   * deeper than 64 arrays/objects is refused (VP_ERR_CONFIG). */
  VpStatus (*create)(const char* config_json, const char* base_dir, VpDetector** out);
  void (*destroy)(VpDetector* detector);

  /* The message of the last failure on `detector`, or of the calling thread's last failure
   * when detector is NULL; "" when there was none. Valid until the next call that fails. */
  const char* (*last_error)(const VpDetector* detector);

  /* JSON: types, thresholds, input size, backend in use, routing, versions. */
  VpStatus (*describe)(VpDetector* detector, const char** json_out);

  /* Changes thresholds, heatmap settings and routing without reloading the model. The keys it
   * accepts are those of create() except the model and backend; on error nothing changes.
   * It merges: keys absent from config_json keep their current values (thresholds per type and
   * per "image"/"pixel"; "routing", when given, replaces the whole routing). */
  VpStatus (*reconfigure)(VpDetector* detector, const char* config_json);

  /* Runs `count` frames in one network call (1 <= count <= VP_MAX_BATCH); `images` is an array
   * strided by images[0].struct_size. */
  VpStatus (*process)(VpDetector* detector, const VpImage* images, uint32_t count, VpResult** out);
  void (*release_result)(VpResult* result);
} VpApi;

/* The one exported entry point. */
VP_EXPORT const VpApi* vp_get_api(uint32_t abi_version);
typedef const VpApi* (*VpGetApiFn)(uint32_t abi_version);

#ifdef __cplusplus
}
#endif

#endif /* VISION_PLUGIN_H */
