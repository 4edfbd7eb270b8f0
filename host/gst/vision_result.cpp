#include "vision_result.hpp"

#include "vision_plugin.hpp"

namespace mtfcdd::gst {
namespace {

gchar* dup_or_empty(const char* s) { return g_strdup(s ? s : ""); }

// A copy of the n elements at p, NULL when n is 0.
template <class T>
T* dup_n(const T* p, guint n) {
  return static_cast<T*>(g_memdup2(p, sizeof(T) * n));
}

// One type's result and its version-3 details.
void copy_type(GstVisionTypeResult& dst, GstVisionTypeDetail& detail, const VpTypeResult& src) {
  dst.name = dup_or_empty(src.name);
  dst.score = src.score;
  dst.probability = src.probability;
  dst.threshold = src.threshold;
  dst.decision = src.decision != 0;
  dst.n_regions = src.region_count;
  dst.regions = g_new0(GstVisionRegion, src.region_count);
  detail.pixel_threshold = src.pixel_threshold;
  detail.configured_pixel_threshold = src.configured_pixel_threshold;
  detail.region_shapes = g_new0(GstVisionRegionShape, src.region_count);
  for (guint r = 0; r < src.region_count; ++r) {
    const VpRegion& g = src.regions[r];
    dst.regions[r] = {g.x, g.y, g.width, g.height, g.area, g.peak, g.mean};
    detail.region_shapes[r] = {src.region_shapes[r].length, src.region_shapes[r].width};
  }
}

void clear_meta(GstVisionResultMeta* m) {
  for (guint k = 0; k < m->n_types; ++k) {
    g_free(m->types[k].name);
    g_free(m->types[k].regions);
    g_free(m->type_details[k].region_shapes);
  }
  g_free(m->types);
  g_free(m->type_details);
  g_free(m->action);
  g_free(m->action_params);
  g_free(m->matches);
  m->types = nullptr;
  m->type_details = nullptr;
  m->n_types = 0;
  m->action = m->action_params = m->matches = nullptr;
}

gboolean meta_init(GstMeta* meta, gpointer, GstBuffer*) {
  auto* m = reinterpret_cast<GstVisionResultMeta*>(meta);
  m->version = GST_VISION_RESULT_META_VERSION;
  m->frame_number = 0;
  m->decision = FALSE;
  m->action = m->action_params = m->matches = nullptr;
  m->types = nullptr;
  m->type_details = nullptr;
  m->type_detail_size = sizeof(GstVisionTypeDetail);
  m->n_types = 0;
  m->decisive_type = -1;
  return TRUE;
}

void meta_free(GstMeta* meta, GstBuffer*) { clear_meta(reinterpret_cast<GstVisionResultMeta*>(meta)); }

void copy_meta(GstVisionResultMeta* dst, const GstVisionResultMeta* src) {
  dst->frame_number = src->frame_number;
  dst->decision = src->decision;
  dst->action = g_strdup(src->action);
  dst->action_params = g_strdup(src->action_params);
  dst->matches = g_strdup(src->matches);
  dst->decisive_type = src->decisive_type;
  dst->n_types = src->n_types;
  dst->types = g_new0(GstVisionTypeResult, src->n_types);
  dst->type_details = g_new0(GstVisionTypeDetail, src->n_types);
  for (guint k = 0; k < src->n_types; ++k) {
    const GstVisionTypeResult& s = src->types[k];
    GstVisionTypeResult& d = dst->types[k];
    d = s;
    d.name = g_strdup(s.name);
    d.regions = dup_n(s.regions, s.n_regions);
    GstVisionTypeDetail& e = dst->type_details[k];
    e = src->type_details[k];
    e.region_shapes = dup_n(e.region_shapes, s.n_regions);
  }
}

// The result describes the whole frame's content, so only a plain copy keeps it valid; a crop or
// scale of the buffer drops it.
gboolean meta_transform(GstBuffer* dest, GstMeta* meta, GstBuffer*, GQuark type, gpointer data) {
  if (!GST_META_TRANSFORM_IS_COPY(type)) return FALSE;
  const auto* copy = static_cast<GstMetaTransformCopy*>(data);
  if (copy->region) return FALSE;
  auto* d = reinterpret_cast<GstVisionResultMeta*>(
      gst_buffer_add_meta(dest, meta->info, nullptr));
  if (!d) return FALSE;
  copy_meta(d, reinterpret_cast<const GstVisionResultMeta*>(meta));
  return TRUE;
}

const GstMetaInfo* meta_info() {
  static const GstMetaInfo* info = nullptr;
  if (g_once_init_enter(&info)) {
    const GstMetaInfo* i = gst_meta_register(vision_result_meta_api_register(), "GstVisionResultMeta",
                                             sizeof(GstVisionResultMeta), meta_init, meta_free, meta_transform);
    g_once_init_leave(&info, i);
  }
  return info;
}

GValue structure_value(GstStructure* s) {
  GValue v = G_VALUE_INIT;
  g_value_init(&v, GST_TYPE_STRUCTURE);
  g_value_take_boxed(&v, s);
  return v;
}

GValue regions_value(const VpTypeResult& t) {
  GValue arr = G_VALUE_INIT;
  gst_value_array_init(&arr, t.region_count);
  for (guint r = 0; r < t.region_count; ++r) {
    const VpRegion& g = t.regions[r];
    const VpRegionShape& shape = t.region_shapes[r];
    GValue v = structure_value(gst_structure_new(
        "region", "x", G_TYPE_INT, g.x, "y", G_TYPE_INT, g.y, "width", G_TYPE_INT, g.width, "height", G_TYPE_INT,
        g.height, "area", G_TYPE_INT64, static_cast<gint64>(g.area), "peak", G_TYPE_FLOAT, g.peak, "mean",
        G_TYPE_FLOAT, g.mean, "length", G_TYPE_FLOAT, shape.length, "caliper-width", G_TYPE_FLOAT, shape.width,
        nullptr));
    gst_value_array_append_and_take_value(&arr, &v);
  }
  return arr;
}

}  // namespace

GType vision_result_meta_api_register() {
  static GType type = 0;
  if (g_once_init_enter(&type)) {
    // No tags: the result is about the picture's content, not its format or memory, so elements
    // that keep untagged metas (videoconvert, queue, tee) carry it downstream.
    static const gchar* tags[] = {nullptr};
    const GType t = gst_meta_api_type_register(GST_VISION_RESULT_META_API_NAME, tags);
    g_once_init_leave(&type, t);
  }
  return type;
}

GstVisionResultMeta* add_vision_result_meta(GstBuffer* buffer, const VpFrameResult& result, guint64 frame_number) {
  auto* m = reinterpret_cast<GstVisionResultMeta*>(gst_buffer_add_meta(buffer, meta_info(), nullptr));
  if (!m) return nullptr;
  m->frame_number = frame_number;
  m->decision = result.decision != 0;
  m->action = dup_or_empty(result.action);
  m->action_params = g_strdup(result.action_params ? result.action_params : "{}");
  m->matches = g_strdup(result.matches ? result.matches : "[]");
  m->decisive_type = result.decisive_type;
  m->n_types = result.type_count;
  m->types = g_new0(GstVisionTypeResult, result.type_count);
  m->type_details = g_new0(GstVisionTypeDetail, result.type_count);
  for (guint k = 0; k < result.type_count; ++k) copy_type(m->types[k], m->type_details[k], vp::type_at(result, k));
  return m;
}

GstStructure* vision_result_structure(const VpFrameResult& result, GstClockTime pts, guint64 frame_number) {
  GstStructure* s = gst_structure_new(
      "vision-result", "pts", G_TYPE_UINT64, static_cast<guint64>(pts), "frame", G_TYPE_UINT64, frame_number,
      "decision", G_TYPE_BOOLEAN, result.decision != 0, "action", G_TYPE_STRING, result.action ? result.action : "",
      "params", G_TYPE_STRING, result.action_params ? result.action_params : "{}", "matches", G_TYPE_STRING,
      result.matches ? result.matches : "[]", "decisive-type", G_TYPE_INT, result.decisive_type, nullptr);
  GValue types = G_VALUE_INIT;
  gst_value_array_init(&types, result.type_count);
  for (guint k = 0; k < result.type_count; ++k) {
    const VpTypeResult& t = vp::type_at(result, k);
    GstStructure* ts = gst_structure_new("type", "name", G_TYPE_STRING, t.name ? t.name : "", "score", G_TYPE_FLOAT,
                                         t.score, "probability", G_TYPE_FLOAT, t.probability, "threshold",
                                         G_TYPE_FLOAT, t.threshold, "decision", G_TYPE_BOOLEAN, t.decision != 0,
                                         "pixel-threshold", G_TYPE_DOUBLE, t.pixel_threshold,
                                         "configured-pixel-threshold", G_TYPE_DOUBLE, t.configured_pixel_threshold,
                                         nullptr);
    GValue regions = regions_value(t);
    gst_structure_take_value(ts, "regions", &regions);
    GValue v = structure_value(ts);
    gst_value_array_append_and_take_value(&types, &v);
  }
  gst_structure_take_value(s, "types", &types);
  return s;
}

}  // namespace mtfcdd::gst
