// visionplugin: a GStreamer in-place video filter that runs any vision plugin (a .so exporting
// vp_get_api, see vision_plugin.h) on each frame, attaches the result as a GstVisionResultMeta,
// posts a `vision-result` element message, and can draw the per-type heatmaps into the frame.
//
// Frames are inspected `batch` at a time: the base class's submit_input_buffer/generate_output
// pair lets the element hold buffers until a batch is full (or a serialized event such as EOS, a
// caps change or a segment drains the stream), run one process() call, then hand the buffers on
// one by one through the usual in-place path (transform_frame_ip), which attaches the results.
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "overlay.hpp"
#include "plugin_loader.hpp"
#include "vision_plugin.hpp"
#include "vision_result.hpp"

namespace {

using mtfcdd::host::LoadedPlugin;
using mtfcdd::host::OverlayType;

constexpr guint kMaxBatch = 64;

// The properties, written by the application thread and read by the streaming thread under the
// object lock.
struct Props {
  std::string plugin, config, category, settings;
  bool overlay = false, drop_default = false;
  guint batch = 1;
  bool settings_changed = false;  // `settings` set since the streaming thread last applied it
  std::string settings_in_force;  // the last `settings` the detector accepted since start
  std::string describe;           // the detector's describe() JSON, refreshed when it changes
};

// A buffer waiting to leave the element, with its result (or why there is none).
struct Inspected {
  GstBuffer* buffer = nullptr;
  std::shared_ptr<vp::Result> batch;
  guint index = 0;
  guint64 frame = 0;
  std::string error;
};

// What exists between start() and stop(); used by the streaming thread only.
struct Running {
  std::unique_ptr<LoadedPlugin> plugin;      // declared first: outlives the detector and results
  std::unique_ptr<vp::Detector> detector;
  std::string default_action;                // the routing's default, for drop-default
  std::deque<GstBuffer*> pending;            // submitted, not yet inspected
  std::deque<Inspected> ready;               // inspected, not yet handed on
  Inspected current;                         // the one transform_frame_ip is handling
  guint64 next_frame = 0;
  bool draining = false;

  ~Running() {
    for (GstBuffer* b : pending) gst_buffer_unref(b);
    for (Inspected& i : ready) gst_buffer_unref(i.buffer);
    ready.clear();
    current = {};
  }
};

}  // namespace

G_BEGIN_DECLS
#define GST_TYPE_VISION_PLUGIN (gst_vision_plugin_get_type())
G_DECLARE_FINAL_TYPE(GstVisionPlugin, gst_vision_plugin, GST, VISION_PLUGIN, GstVideoFilter)
G_END_DECLS

struct _GstVisionPlugin {
  GstVideoFilter parent;
  Props* props;
  Running* run;
};

G_DEFINE_TYPE(GstVisionPlugin, gst_vision_plugin, GST_TYPE_VIDEO_FILTER)

GST_DEBUG_CATEGORY_STATIC(vision_debug);
#define GST_CAT_DEFAULT vision_debug

namespace {

enum {
  PROP_0,
  PROP_PLUGIN,
  PROP_CONFIG,
  PROP_CATEGORY,
  PROP_OVERLAY,
  PROP_BATCH,
  PROP_DROP_DEFAULT,
  PROP_SETTINGS,
  PROP_DESCRIBE
};

GstBaseTransformClass* parent_transform_class() { return GST_BASE_TRANSFORM_CLASS(gst_vision_plugin_parent_class); }

// A copy of the properties, taken under the object lock.
Props props_of(GstVisionPlugin* self) {
  GST_OBJECT_LOCK(self);
  Props p = *self->props;
  GST_OBJECT_UNLOCK(self);
  return p;
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read the file");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Caches what the element needs from describe(): the default action, and the JSON itself.
void refresh_description(GstVisionPlugin* self) {
  Running& r = *self->run;
  const std::string d = r.detector->describe();
  r.default_action.clear();
  try {
    const nlohmann::json j = nlohmann::json::parse(d);
    if (j.contains("routing")) r.default_action = j.at("routing").value("default", "");
  } catch (const nlohmann::json::exception&) {
    // A plugin may describe itself differently; drop-default then drops nothing.
  }
  GST_OBJECT_LOCK(self);
  self->props->describe = d;
  GST_OBJECT_UNLOCK(self);
}

// Applies `settings` through reconfigure() when it was set since the last call; throws on rejection.
void apply_settings(GstVisionPlugin* self) {
  GST_OBJECT_LOCK(self);
  const bool changed = self->props->settings_changed;
  const std::string settings = self->props->settings;
  self->props->settings_changed = false;
  GST_OBJECT_UNLOCK(self);
  if (!changed || settings.empty()) return;
  self->run->detector->reconfigure(settings);
  GST_OBJECT_LOCK(self);
  self->props->settings_in_force = settings;
  GST_OBJECT_UNLOCK(self);
  refresh_description(self);
  GST_INFO_OBJECT(self, "reconfigured with %s", settings.c_str());
}

// After a rejection while playing, `settings` reads back the settings still in force, unless the
// application has set newer ones meanwhile.
void keep_settings_in_force(GstVisionPlugin* self) {
  GST_OBJECT_LOCK(self);
  if (!self->props->settings_changed) self->props->settings = self->props->settings_in_force;
  GST_OBJECT_UNLOCK(self);
}

// The detector from the plugin and the `config` file; throws naming the cause.
std::unique_ptr<vp::Detector> make_detector(const LoadedPlugin& plugin, const std::string& config) {
  std::string json = "{}", base_dir;
  if (!config.empty()) {
    json = read_text_file(config);
    base_dir = std::filesystem::absolute(config).parent_path().string();
  }
  return std::make_unique<vp::Detector>(plugin.api(), json, base_dir);
}

// Starts from the config, then applies the settings on top; a failure is labelled with its source.
gboolean start_detector(GstVisionPlugin* self, const Props& p, std::unique_ptr<Running> run) {
  std::string source = "config " + (p.config.empty() ? std::string("(none)") : p.config);
  try {
    run->detector = make_detector(*run->plugin, p.config);
    self->run = run.release();
    GST_OBJECT_LOCK(self);
    self->props->settings_changed = true;
    self->props->settings_in_force.clear();
    GST_OBJECT_UNLOCK(self);
    refresh_description(self);
    source = "settings";
    apply_settings(self);
  } catch (const std::exception& e) {
    delete self->run;
    self->run = nullptr;
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s: %s", source.c_str(), e.what()), (nullptr));
    return FALSE;
  }
  return TRUE;
}

gboolean vision_start(GstBaseTransform* bt) {
  auto* self = GST_VISION_PLUGIN(bt);
  const Props p = props_of(self);
  auto run = std::make_unique<Running>();
  if (p.plugin.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("no plugin set (the 'plugin' property: path to a vision plugin .so)"),
                      (nullptr));
    return FALSE;
  }
  try {
    run->plugin = std::make_unique<LoadedPlugin>(p.plugin);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("%s", e.what()), (nullptr));
    return FALSE;
  }
  return start_detector(self, p, std::move(run));
}

gboolean vision_stop(GstBaseTransform* bt) {
  auto* self = GST_VISION_PLUGIN(bt);
  delete self->run;
  self->run = nullptr;
  GST_OBJECT_LOCK(self);
  self->props->describe.clear();
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

VpPixelFormat pixel_format(GstVideoFormat f) {
  switch (f) {
    case GST_VIDEO_FORMAT_GRAY8: return VP_PIXEL_GRAY8;
    case GST_VIDEO_FORMAT_BGR: return VP_PIXEL_BGR8;
    case GST_VIDEO_FORMAT_RGB: return VP_PIXEL_RGB8;
    default: return VP_PIXEL_BGRA8;  // BGRx, BGRA: the caps allow nothing else
  }
}

// Runs every pending buffer through one process() call and queues them, with results, as ready.
void inspect_pending(GstVisionPlugin* self) {
  Running& r = *self->run;
  const GstVideoInfo* info = &GST_VIDEO_FILTER(self)->in_info;
  const Props p = props_of(self);
  std::vector<Inspected> batch;
  std::vector<GstVideoFrame> frames(r.pending.size());
  std::vector<VpImage> images;
  for (size_t i = 0; i < r.pending.size(); ++i) {
    Inspected in;
    in.buffer = r.pending[i];
    in.frame = r.next_frame++;
    if (gst_video_frame_map(&frames[images.size()], info, in.buffer, GST_MAP_READ)) {
      const GstVideoFrame& f = frames[images.size()];
      VpImage im{};
      im.struct_size = sizeof im;
      im.width = GST_VIDEO_FRAME_WIDTH(&f);
      im.height = GST_VIDEO_FRAME_HEIGHT(&f);
      im.stride = GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
      im.format = pixel_format(GST_VIDEO_FRAME_FORMAT(&f));
      im.data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0));
      im.category = p.category.empty() ? nullptr : p.category.c_str();
      in.index = static_cast<guint>(images.size());
      images.push_back(im);
    } else {
      in.error = "cannot map the buffer for reading";
    }
    batch.push_back(std::move(in));
  }
  r.pending.clear();
  std::string error;
  try {
    apply_settings(self);
  } catch (const std::exception& e) {  // the detector keeps its previous settings
    keep_settings_in_force(self);
    GST_ELEMENT_WARNING(self, LIBRARY, SETTINGS, ("settings rejected, previous ones kept: %s", e.what()), (nullptr));
  }
  std::shared_ptr<vp::Result> result;
  if (!images.empty()) {
    try {
      result = std::make_shared<vp::Result>(r.detector->process(images.data(), static_cast<uint32_t>(images.size())));
      if (result->size() != images.size())
        error = "the plugin returned " + std::to_string(result->size()) + " results for " +
                std::to_string(images.size()) + " frames";
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  for (size_t i = 0; i < images.size(); ++i) gst_video_frame_unmap(&frames[i]);
  for (Inspected& in : batch) {
    if (in.error.empty()) {
      in.error = error;
      in.batch = result;
    }
    r.ready.push_back(std::move(in));
  }
}

// Submitted buffers collect in `pending` instead of the base class's single slot.
GstFlowReturn vision_submit_input_buffer(GstBaseTransform* bt, gboolean discont, GstBuffer* in) {
  auto* self = GST_VISION_PLUGIN(bt);
  const GstFlowReturn ret = parent_transform_class()->submit_input_buffer(bt, discont, in);
  if (ret != GST_FLOW_OK || !bt->queued_buf) return ret;
  self->run->pending.push_back(bt->queued_buf);
  bt->queued_buf = nullptr;
  return GST_FLOW_OK;
}

// Hands on the next inspected buffer through the base class's in-place path; frames dropped there
// (drop-default) are skipped so the base class's loop does not stop at them.
GstFlowReturn vision_generate_output(GstBaseTransform* bt, GstBuffer** out) {
  auto* self = GST_VISION_PLUGIN(bt);
  Running& r = *self->run;
  *out = nullptr;
  for (;;) {
    if (r.ready.empty()) {
      const guint batch = props_of(self).batch;
      if (r.pending.empty() || (r.pending.size() < batch && !r.draining)) return GST_FLOW_OK;
      inspect_pending(self);
    }
    r.current = std::move(r.ready.front());
    r.ready.pop_front();
    bt->queued_buf = r.current.buffer;
    const GstFlowReturn ret = parent_transform_class()->generate_output(bt, out);
    r.current = {};
    if (ret != GST_BASE_TRANSFORM_FLOW_DROPPED) return ret;
    if (*out) gst_buffer_unref(*out);
    *out = nullptr;
  }
}

// Inspects and pushes what is held (a partial batch included).
GstFlowReturn drain(GstVisionPlugin* self) {
  auto* bt = GST_BASE_TRANSFORM(self);
  if (!self->run) return GST_FLOW_OK;
  self->run->draining = true;
  GstFlowReturn ret = GST_FLOW_OK;
  while (ret == GST_FLOW_OK) {
    GstBuffer* out = nullptr;
    ret = vision_generate_output(bt, &out);
    if (!out) break;
    if (ret == GST_FLOW_OK) {
      ret = gst_pad_push(bt->srcpad, out);
    } else {
      gst_buffer_unref(out);
    }
  }
  self->run->draining = false;
  return ret;
}

// Held buffers go out before any serialized event (EOS, CAPS: they were mapped with the old caps;
// SEGMENT, GAP, TAG, custom ones), so that the event keeps its place in the stream. FLUSH_STOP
// throws them away instead.
gboolean vision_sink_event(GstBaseTransform* bt, GstEvent* event) {
  auto* self = GST_VISION_PLUGIN(bt);
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) {
    if (self->run) {
      for (GstBuffer* b : self->run->pending) gst_buffer_unref(b);
      self->run->pending.clear();
      for (Inspected& i : self->run->ready) gst_buffer_unref(i.buffer);
      self->run->ready.clear();
    }
  } else if (GST_EVENT_IS_SERIALIZED(event)) {
    drain(self);
  }
  return parent_transform_class()->sink_event(bt, event);
}

// Holding frames for a batch delays each by up to batch - 1 frame periods; live pipelines must know.
gboolean vision_query(GstBaseTransform* bt, GstPadDirection direction, GstQuery* query) {
  if (!parent_transform_class()->query(bt, direction, query)) return FALSE;
  const GstVideoInfo* info = &GST_VIDEO_FILTER(bt)->in_info;
  const guint batch = props_of(GST_VISION_PLUGIN(bt)).batch;
  if (direction != GST_PAD_SRC || GST_QUERY_TYPE(query) != GST_QUERY_LATENCY || batch < 2 ||
      GST_VIDEO_INFO_FPS_N(info) <= 0)
    return TRUE;
  gboolean live = FALSE;
  GstClockTime min = 0, max = 0;
  gst_query_parse_latency(query, &live, &min, &max);
  const GstClockTime held =
      gst_util_uint64_scale_int(GST_SECOND * (batch - 1), GST_VIDEO_INFO_FPS_D(info), GST_VIDEO_INFO_FPS_N(info));
  gst_query_set_latency(query, live, min + held, GST_CLOCK_TIME_IS_VALID(max) ? max + held : max);
  return TRUE;
}

// Draws the overlay into the mapped frame, through a BGR copy for the formats OpenCV does not draw on.
void draw_overlay(GstVideoFrame* frame, const VpFrameResult& f) {
  const std::vector<OverlayType> types = mtfcdd::host::overlay_types(f);
  const GstVideoFormat format = GST_VIDEO_FRAME_FORMAT(frame);
  const int channels = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0);  // bytes per pixel of these packed formats
  cv::Mat pixels(GST_VIDEO_FRAME_HEIGHT(frame), GST_VIDEO_FRAME_WIDTH(frame), CV_8UC(channels),
                 GST_VIDEO_FRAME_PLANE_DATA(frame, 0), GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0));
  if (format == GST_VIDEO_FORMAT_BGR) {
    mtfcdd::host::draw_overlay_in_frame(pixels, types, f.action ? f.action : "");
    return;
  }
  cv::Mat bgr;
  const int to_bgr = channels == 1 ? cv::COLOR_GRAY2BGR : channels == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_BGRA2BGR;
  cv::cvtColor(pixels, bgr, to_bgr);
  mtfcdd::host::draw_overlay_in_frame(bgr, types, f.action ? f.action : "");
  if (channels == 4) {  // B, G, R back; alpha (or padding) untouched
    const int from_to[] = {0, 0, 1, 1, 2, 2};
    cv::mixChannels(&bgr, 1, &pixels, 1, from_to, 3);
  } else {
    cv::cvtColor(bgr, pixels, channels == 1 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
  }
}

GstFlowReturn vision_transform_frame_ip(GstVideoFilter* filter, GstVideoFrame* frame) {
  auto* self = GST_VISION_PLUGIN(filter);
  Running& r = *self->run;
  const Inspected& in = r.current;
  if (!in.error.empty()) {
    GST_ELEMENT_WARNING(self, STREAM, FAILED,
                        ("frame %" G_GUINT64_FORMAT " not inspected: %s", in.frame, in.error.c_str()), (nullptr));
    return GST_FLOW_OK;
  }
  const VpFrameResult& f = (*in.batch)[in.index];
  const Props p = props_of(self);
  mtfcdd::gst::add_vision_result_meta(frame->buffer, f, in.frame);
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              mtfcdd::gst::vision_result_structure(f, GST_BUFFER_PTS(frame->buffer), in.frame)));
  if (p.overlay) {
    try {
      draw_overlay(frame, f);
    } catch (const std::exception& e) {
      GST_ELEMENT_WARNING(self, STREAM, FAILED,
                          ("frame %" G_GUINT64_FORMAT ": no overlay: %s", in.frame, e.what()), (nullptr));
    }
  }
  if (p.drop_default && !r.default_action.empty() && f.action && r.default_action == f.action)
    return GST_BASE_TRANSFORM_FLOW_DROPPED;
  return GST_FLOW_OK;
}

void vision_set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_VISION_PLUGIN(object);
  const auto str = [&] { const gchar* s = g_value_get_string(value); return std::string(s ? s : ""); };
  bool latency_changed = false;
  GST_OBJECT_LOCK(self);
  Props& p = *self->props;
  switch (id) {
    case PROP_PLUGIN: p.plugin = str(); break;
    case PROP_CONFIG: p.config = str(); break;
    case PROP_CATEGORY: p.category = str(); break;
    case PROP_OVERLAY: p.overlay = g_value_get_boolean(value); break;
    case PROP_BATCH:
      p.batch = g_value_get_uint(value);
      latency_changed = true;
      break;
    case PROP_DROP_DEFAULT: p.drop_default = g_value_get_boolean(value); break;
    case PROP_SETTINGS:
      p.settings = str();
      p.settings_changed = true;
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
  if (latency_changed) gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
}

void vision_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_VISION_PLUGIN(object);
  const auto str = [&](const std::string& s) { g_value_set_string(value, s.empty() ? nullptr : s.c_str()); };
  GST_OBJECT_LOCK(self);
  const Props& p = *self->props;
  switch (id) {
    case PROP_PLUGIN: str(p.plugin); break;
    case PROP_CONFIG: str(p.config); break;
    case PROP_CATEGORY: str(p.category); break;
    case PROP_OVERLAY: g_value_set_boolean(value, p.overlay); break;
    case PROP_BATCH: g_value_set_uint(value, p.batch); break;
    case PROP_DROP_DEFAULT: g_value_set_boolean(value, p.drop_default); break;
    case PROP_SETTINGS: str(p.settings); break;
    case PROP_DESCRIBE: str(p.describe); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

void vision_finalize(GObject* object) {
  auto* self = GST_VISION_PLUGIN(object);
  delete self->run;
  delete self->props;
  G_OBJECT_CLASS(gst_vision_plugin_parent_class)->finalize(object);
}

const GParamFlags kReadyOnly =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
const GParamFlags kWhilePlaying =
    static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);

void install_properties(GObjectClass* oc) {
  g_object_class_install_property(
      oc, PROP_PLUGIN,
      g_param_spec_string("plugin", "Plugin", "Path to the vision plugin library (a .so exporting vp_get_api)", nullptr,
                          kReadyOnly));
  g_object_class_install_property(
      oc, PROP_CONFIG,
      g_param_spec_string("config", "Config",
                          "The plugin's JSON configuration file; relative paths in it resolve against its folder",
                          nullptr, kReadyOnly));
  g_object_class_install_property(
      oc, PROP_CATEGORY,
      g_param_spec_string("category", "Category", "Object category passed with every frame, for routing rules",
                          nullptr, kWhilePlaying));
  g_object_class_install_property(
      oc, PROP_OVERLAY,
      g_param_spec_boolean("overlay", "Overlay",
                           "Draw each defective type's heatmap, contours and a legend into the frame", FALSE,
                           kWhilePlaying));
  g_object_class_install_property(
      oc, PROP_BATCH,
      g_param_spec_uint("batch", "Batch", "Frames per process call (frames are held until a batch is full)", 1,
                        kMaxBatch, 1, kWhilePlaying));
  g_object_class_install_property(
      oc, PROP_DROP_DEFAULT,
      g_param_spec_boolean("drop-default", "Drop default",
                           "Drop frames routed to the routing's default action (their message is still posted)",
                           FALSE, kWhilePlaying));
  g_object_class_install_property(
      oc, PROP_SETTINGS,
      g_param_spec_string("settings", "Settings",
                          "JSON object of settings applied over the config through the plugin's reconfigure "
                          "(thresholds, heatmaps, routing); may change while playing, a rejected one is reported "
                          "and the previous settings stay in force and read back",
                          nullptr, kWhilePlaying));
  g_object_class_install_property(
      oc, PROP_DESCRIBE,
      g_param_spec_string("describe", "Describe",
                          "The running detector's description (JSON: types, thresholds, routing, backend); "
                          "NULL before the element is started",
                          nullptr, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
}

}  // namespace

static void gst_vision_plugin_class_init(GstVisionPluginClass* klass) {
  auto* oc = G_OBJECT_CLASS(klass);
  auto* ec = GST_ELEMENT_CLASS(klass);
  auto* tc = GST_BASE_TRANSFORM_CLASS(klass);
  auto* vc = GST_VIDEO_FILTER_CLASS(klass);
  oc->set_property = vision_set_property;
  oc->get_property = vision_get_property;
  oc->finalize = vision_finalize;
  install_properties(oc);

  GstCaps* caps = gst_caps_from_string(GST_VIDEO_CAPS_MAKE("{ GRAY8, BGR, RGB, BGRx, BGRA }"));
  gst_element_class_add_pad_template(ec, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps));
  gst_element_class_add_pad_template(ec, gst_pad_template_new("src", GST_PAD_SRC, GST_PAD_ALWAYS, caps));
  gst_caps_unref(caps);
  gst_element_class_set_static_metadata(
      ec, "Vision plugin inspector", "Filter/Analyzer/Video",
      "Runs a vision plugin (vision_plugin.h C ABI) on each frame: GstVisionResultMeta, vision-result messages, "
      "optional heatmap overlay",
      "MultiTypeFCDD");

  tc->start = vision_start;
  tc->stop = vision_stop;
  tc->submit_input_buffer = vision_submit_input_buffer;
  tc->generate_output = vision_generate_output;
  tc->sink_event = vision_sink_event;
  tc->query = vision_query;
  tc->passthrough_on_same_caps = FALSE;
  vc->transform_frame_ip = vision_transform_frame_ip;
  mtfcdd::gst::vision_result_meta_api_register();
}

static void gst_vision_plugin_init(GstVisionPlugin* self) {
  self->props = new Props();
  self->run = nullptr;
}

static gboolean plugin_init(GstPlugin* plugin) {
  GST_DEBUG_CATEGORY_INIT(vision_debug, "visionplugin", 0, "vision plugin inspector");
  return gst_element_register(plugin, "visionplugin", GST_RANK_NONE, GST_TYPE_VISION_PLUGIN);
}

#define PACKAGE "multitypefcdd"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, visionplugin,
                  "Runs vision plugins (vision_plugin.h) on video frames", plugin_init, MTFCDD_VERSION, "unknown",
                  "MultiTypeFCDD", "MultiTypeFCDD")
