/* gstvisionresultmeta.h - the per-frame result the `visionplugin` GStreamer element attaches to
 * every buffer it inspects, for downstream elements and applications written in C.
 *
 * Header-only: it needs GStreamer's headers but no library of this project. The meta's API type
 * is registered by name when the visionplugin element's class is first used (any pipeline that
 * contains the element), so gst_buffer_get_vision_result_meta() finds it on any buffer that went
 * through the element, and returns NULL before that or on buffers the element did not inspect
 * (e.g. a frame whose inspection failed).
 *
 *   #include "gstvisionresultmeta.h"
 *
 *   static GstPadProbeReturn on_buffer(GstPad* pad, GstPadProbeInfo* info, gpointer user) {
 *     const GstVisionResultMeta* m = gst_buffer_get_vision_result_meta(GST_PAD_PROBE_INFO_BUFFER(info));
 *     if (m && m->decision)
 *       for (guint i = 0; i < m->n_types; ++i)
 *         if (m->types[i].decision)
 *           g_print("frame %" G_GUINT64_FORMAT ": %s p=%.3f -> %s %s\n", m->frame_number,
 *                   m->types[i].name, m->types[i].probability, m->action, m->action_params);
 *     return GST_PAD_PROBE_OK;
 *   }
 *
 * Everything the meta points to is owned by the meta and lives as long as the buffer holds it;
 * read it, do not modify it. The meta has no tags, so elements that copy untagged metas (e.g.
 * videoconvert, queue, tee) keep it downstream; a copied buffer gets a deep copy.
 *
 * Fields are only ever added at the end of a struct. The array elements of versions 1 and 2
 * (GstVisionTypeResult, GstVisionRegion) and GstVisionRegionShape never grow, as that would move
 * their neighbours; GstVisionTypeDetail may, so read it through gst_vision_result_meta_type_detail(),
 * which steps by the size the element wrote. GST_VISION_RESULT_META_VERSION counts the revisions,
 * fields are marked with the version that added them, and meta->version tells what the element that
 * made the meta knows: read a field only when meta->version is at least the one that added it. */
#ifndef GST_VISION_RESULT_META_H
#define GST_VISION_RESULT_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_VISION_RESULT_META_VERSION 3
#define GST_VISION_RESULT_META_API_NAME "GstVisionResultMetaAPI"

/* A connected region of one type's anomaly map at or above its pixel threshold in force, in frame pixels. */
typedef struct GstVisionRegion {
  gint x, y, width, height; /* bounding box */
  gint64 area;              /* pixels */
  gfloat peak;              /* highest map value inside */
  gfloat mean;              /* mean map value inside */
} GstVisionRegion;

/* Version 3: a region's extent, for rules such as "a scratch longer than 40 px" (the plugin's
 * VpRegionShape): its largest and smallest caliper (Feret) diameter over its pixel centres, plus one
 * pixel, in frame pixels. A curved defect's length is its chord, its width the bow. */
typedef struct GstVisionRegionShape {
  gfloat length;
  gfloat width;
} GstVisionRegionShape;

/* Version 3: what a type's result gained after version 2, in an array of its own beside `types`
 * (GstVisionTypeResult's size, by which `types` is indexed, never changes). */
typedef struct GstVisionTypeDetail {
  gdouble pixel_threshold;             /* the threshold on the map in force on this frame (regions,
                                          contours): the type's own, raised to its peak_fraction share
                                          of the map's peak for a type found defective (for every
                                          type when the plugin makes frame-sized maps) */
  gdouble configured_pixel_threshold;  /* the type's own */
  GstVisionRegionShape* region_shapes; /* types[k].n_regions entries, index for index with its
                                          regions; NULL when there are none */
} GstVisionTypeDetail;

/* One defect type's result, as the plugin's VpTypeResult (heatmaps are not copied). */
typedef struct GstVisionTypeResult {
  gchar* name;
  gfloat score;             /* the plugin's anomaly score z */
  gfloat probability;       /* p = 1 - exp(-z) */
  gfloat threshold;         /* image threshold on z in force */
  gboolean decision;        /* TRUE when score >= threshold */
  GstVisionRegion* regions; /* n_regions entries, largest first as the plugin gives them */
  guint n_regions;
} GstVisionTypeResult;

typedef struct GstVisionResultMeta {
  GstMeta meta;
  guint version;                /* GST_VISION_RESULT_META_VERSION of the element that made it */
  guint64 frame_number;         /* 0 for the first buffer after the element started */
  gboolean decision;            /* TRUE when any type's decision is TRUE */
  gchar* action;                /* the routed action's name (the default action when clean) */
  gchar* action_params;         /* its parameters, a JSON object */
  gchar* matches;               /* every matched routing rule, a JSON array, decisive first */
  GstVisionTypeResult* types;   /* n_types entries, in the model's order */
  guint n_types;
  gint decisive_type;           /* version 2: index into types of the type that decided the action
                                   (the plugin's VpFrameResult.decisive_type); -1 when clean */
  GstVisionTypeDetail* type_details; /* version 3: n_types entries of type_detail_size bytes, index
                                        for index with types; read them with
                                        gst_vision_result_meta_type_detail() */
  guint type_detail_size;            /* version 3: sizeof(GstVisionTypeDetail) in the element */
} GstVisionResultMeta;

/* The meta's API type; 0 until the visionplugin element's class has been created. */
static inline GType gst_vision_result_meta_api_get_type(void) {
  return g_type_from_name(GST_VISION_RESULT_META_API_NAME);
}

/* Type k's details, or NULL when the meta is older than version 3 or k is out of range. */
static inline const GstVisionTypeDetail* gst_vision_result_meta_type_detail(const GstVisionResultMeta* meta, guint k) {
  if (!meta || meta->version < 3 || k >= meta->n_types || !meta->type_details) return NULL;
  return (const GstVisionTypeDetail*)((const guint8*)meta->type_details + (gsize)k * meta->type_detail_size);
}

/* The buffer's result, or NULL when it has none. */
static inline const GstVisionResultMeta* gst_buffer_get_vision_result_meta(GstBuffer* buffer) {
  const GType api = gst_vision_result_meta_api_get_type();
  return api ? (const GstVisionResultMeta*)gst_buffer_get_meta(buffer, api) : NULL;
}

G_END_DECLS

#endif /* GST_VISION_RESULT_META_H */
