// The visionplugin GStreamer element driven by GstHarness: caps, results per buffer against the
// C ABI called directly, bus messages, errors, overlay, batching, drop-default and reconfigure.
#include <dlfcn.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "gstvisionresultmeta.h"
#include "test_util.hpp"
#include "vision_plugin.hpp"

namespace fs = std::filesystem;

namespace {

// The synthetic test images (made by the gst_synth fixture), sorted by name.
std::vector<std::string> synth_images() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(MTFCDD_GST_SYNTH) / "img" / "test"))
    if (e.path().extension() == ".png") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The first image whose name contains `part` (e.g. "_normal", "pit").
cv::Mat image_with(const std::string& part) {
  for (const auto& p : synth_images())
    if (fs::path(p).filename().string().find(part) != std::string::npos) return cv::imread(p, cv::IMREAD_COLOR);
  ADD_FAILURE() << "no synthetic image named *" << part << "*";
  return cv::Mat(128, 128, CV_8UC3, cv::Scalar::all(90));
}

struct Format {
  const char* caps;
  int to_format;  // cv::cvtColor code from BGR, -1 = none
  VpPixelFormat vp;
};
const Format kFormats[] = {{"GRAY8", cv::COLOR_BGR2GRAY, VP_PIXEL_GRAY8},
                           {"BGR", -1, VP_PIXEL_BGR8},
                           {"RGB", cv::COLOR_BGR2RGB, VP_PIXEL_RGB8},
                           {"BGRx", cv::COLOR_BGR2BGRA, VP_PIXEL_BGRA8},
                           {"BGRA", cv::COLOR_BGR2BGRA, VP_PIXEL_BGRA8}};

cv::Mat in_format(const cv::Mat& bgr, const Format& f) {
  if (f.to_format < 0) return bgr.clone();
  cv::Mat out;
  cv::cvtColor(bgr, out, f.to_format);
  return out;
}

// A buffer with GStreamer's default layout for the format: rows padded to 4 bytes, so strides differ from cv::Mat's.
GstBuffer* video_buffer(const cv::Mat& m, const char* format, GstClockTime pts) {
  GstVideoInfo info;
  gst_video_info_set_format(&info, gst_video_format_from_string(format), m.cols, m.rows);
  GstBuffer* b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_WRITE);
  const size_t row = m.cols * m.elemSize();
  for (int y = 0; y < m.rows; ++y) std::memcpy(map.data + y * GST_VIDEO_INFO_PLANE_STRIDE(&info, 0), m.ptr(y), row);
  gst_buffer_unmap(b, &map);
  GST_BUFFER_PTS(b) = pts;
  GST_BUFFER_DURATION(b) = GST_SECOND / 10;
  return b;
}

std::string caps_for(const cv::Mat& m, const char* format) {
  return "video/x-raw,format=" + std::string(format) + ",width=" + std::to_string(m.cols) +
         ",height=" + std::to_string(m.rows) + ",framerate=10/1";
}

// The element with the plugin and demo config set, posting to its own bus.
struct Element {
  GstElement* element;
  GstBus* bus = gst_bus_new();
  explicit Element(const char* config = MTFCDD_DEMO_CONFIG, const char* plugin = MTFCDD_PLUGIN_PATH) {
    element = gst_element_factory_make("visionplugin", nullptr);
    EXPECT_NE(element, nullptr) << "visionplugin is not registered";
    g_object_set(element, "plugin", plugin, "config", config, nullptr);
    gst_element_set_bus(element, bus);
  }
  ~Element() { gst_object_unref(bus); }
  // Messages of `type` posted so far (popped).
  std::vector<GstMessage*> pop(GstMessageType type) {
    std::vector<GstMessage*> out;
    while (GstMessage* m = gst_bus_pop_filtered(bus, type)) out.push_back(m);
    return out;
  }
};

// A harness around an Element; owns the element.
struct Harness : Element {
  GstHarness* h;
  Harness() {
    h = gst_harness_new_with_element(element, "sink", "src");
    gst_harness_play(h);
  }
  ~Harness() {
    gst_harness_teardown(h);
    gst_object_unref(element);
  }
  void caps(const cv::Mat& m, const char* format) { gst_harness_set_src_caps_str(h, caps_for(m, format).c_str()); }
  GstFlowReturn push(const cv::Mat& m, const char* format, GstClockTime pts = 0) {
    return gst_harness_push(h, video_buffer(m, format, pts));
  }
};

void free_messages(std::vector<GstMessage*>& ms) {
  for (GstMessage* m : ms) gst_message_unref(m);
  ms.clear();
}

std::string message_text(GstMessage* m) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) gst_message_parse_error(m, &err, &debug);
  else gst_message_parse_warning(m, &err, &debug);
  std::string s = err ? err->message : "";
  g_clear_error(&err);
  g_free(debug);
  return s;
}

// The C ABI called directly, for reference results.
struct DirectDetector {
  void* lib = dlopen(MTFCDD_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  const VpApi& api = vp::negotiate(reinterpret_cast<VpGetApiFn>(dlsym(lib, "vp_get_api")), MTFCDD_PLUGIN_PATH);
  vp::Detector detector{api, read_config(), fs::path(MTFCDD_DEMO_CONFIG).parent_path().string()};
  ~DirectDetector() { dlclose(lib); }
  static std::string read_config() {
    std::ifstream f(MTFCDD_DEMO_CONFIG);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  vp::Result process(const cv::Mat& m, VpPixelFormat format) {
    VpImage im{sizeof(VpImage), m.cols, m.rows, static_cast<int32_t>(m.step[0]), format, m.data, nullptr};
    return detector.process(&im, 1);
  }
};

void expect_meta_equals(const GstVisionResultMeta& m, const VpFrameResult& f) {
  EXPECT_EQ(m.decision, f.decision != 0);
  EXPECT_STREQ(m.action, f.action);
  EXPECT_STREQ(m.action_params, f.action_params);
  EXPECT_STREQ(m.matches, f.matches);
  EXPECT_EQ(m.decisive_type, f.decisive_type);
  ASSERT_EQ(m.n_types, f.type_count);
  for (guint k = 0; k < m.n_types; ++k) {
    const GstVisionTypeResult& a = m.types[k];
    const VpTypeResult& b = vp::type_at(f, k);
    EXPECT_STREQ(a.name, b.name);
    EXPECT_FLOAT_EQ(a.score, b.score) << a.name;
    EXPECT_FLOAT_EQ(a.probability, b.probability) << a.name;
    EXPECT_EQ(a.threshold, b.threshold) << a.name;
    EXPECT_EQ(a.decision, b.decision != 0) << a.name;
    ASSERT_EQ(a.n_regions, b.region_count) << a.name;
    ASSERT_NE(gst_vision_result_meta_type_detail(&m, k), nullptr);
    const GstVisionTypeDetail& d = *gst_vision_result_meta_type_detail(&m, k);
    EXPECT_EQ(d.pixel_threshold, b.pixel_threshold) << a.name;
    EXPECT_EQ(d.configured_pixel_threshold, b.configured_pixel_threshold) << a.name;
    for (guint r = 0; r < a.n_regions; ++r) {
      EXPECT_EQ(a.regions[r].x, b.regions[r].x);
      EXPECT_EQ(a.regions[r].y, b.regions[r].y);
      EXPECT_EQ(a.regions[r].width, b.regions[r].width);
      EXPECT_EQ(a.regions[r].height, b.regions[r].height);
      EXPECT_EQ(a.regions[r].area, b.regions[r].area);
      EXPECT_EQ(d.region_shapes[r].length, b.region_shapes[r].length);
      EXPECT_EQ(d.region_shapes[r].width, b.region_shapes[r].width);
    }
  }
}

const GstVisionResultMeta* meta_of(GstBuffer* b) { return b ? gst_buffer_get_vision_result_meta(b) : nullptr; }

// What leaves a pad, in order: "buffer", or the event's type name ("segment", "gap", ...).
struct Outflow {
  std::vector<std::string> seen;
  static GstPadProbeReturn record(GstPad*, GstPadProbeInfo* info, gpointer self) {
    auto& seen = static_cast<Outflow*>(self)->seen;
    if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER)
      seen.push_back("buffer");
    else
      seen.push_back(GST_EVENT_TYPE_NAME(GST_PAD_PROBE_INFO_EVENT(info)));
    return GST_PAD_PROBE_OK;
  }
};

// The element's `settings` property as it reads back ("<NULL>" for none).
std::string settings_of(GstElement* e) {
  gchar* s = nullptr;
  g_object_get(e, "settings", &s, nullptr);
  const std::string out = s ? s : "<NULL>";
  g_free(s);
  return out;
}

}  // namespace

TEST(GstVisionPlugin, AcceptsTheFiveFormatsOnly) {
  Element e;
  GstPad* sink = gst_element_get_static_pad(e.element, "sink");
  for (const Format& f : kFormats) {
    GstCaps* c = gst_caps_from_string(caps_for(cv::Mat(4, 4, CV_8UC1), f.caps).c_str());
    EXPECT_TRUE(gst_pad_query_accept_caps(sink, c)) << f.caps;
    gst_caps_unref(c);
  }
  GstCaps* i420 = gst_caps_from_string("video/x-raw,format=I420,width=64,height=64,framerate=10/1");
  EXPECT_FALSE(gst_pad_query_accept_caps(sink, i420));
  gst_caps_unref(i420);
  gst_object_unref(sink);
  gst_object_unref(e.element);
}

TEST(GstVisionPlugin, EveryFormatGivesTheMetaTheCAbiGivesForTheSameFrame) {
  DirectDetector direct;
  const cv::Mat defect = image_with("pit"), normal = image_with("_normal");
  Harness h;  // one stream, renegotiated per format
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.caps);
    h.caps(defect, f.caps);
    for (const cv::Mat* bgr : {&defect, &normal}) {
      const cv::Mat frame = in_format(*bgr, f);
      ASSERT_EQ(h.push(frame, f.caps), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(h.h);
      const GstVisionResultMeta* m = meta_of(out);
      ASSERT_NE(m, nullptr);
      const vp::Result ref = direct.process(frame, f.vp);
      expect_meta_equals(*m, ref[0]);
      gst_buffer_unref(out);
    }
  }
}

TEST(GstVisionPlugin, OneResultAndOneMessagePerBufferInOrderAlsoInBatches) {
  const std::vector<std::string> files = synth_images();
  ASSERT_GE(files.size(), 6u);
  for (guint batch : {1u, 4u}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    Harness h;
    g_object_set(h.element, "batch", batch, nullptr);
    const cv::Mat first = cv::imread(files[0]);
    h.caps(first, "BGR");
    for (size_t i = 0; i < 6; ++i) ASSERT_EQ(h.push(cv::imread(files[i]), "BGR", i * GST_SECOND / 10), GST_FLOW_OK);
    // Batch 4: the last two frames wait for a full batch until EOS drains them.
    EXPECT_EQ(gst_harness_buffers_received(h.h), batch == 1 ? 6u : 4u);
    gst_harness_push_event(h.h, gst_event_new_eos());
    ASSERT_EQ(gst_harness_buffers_received(h.h), 6u);
    std::vector<GstMessage*> msgs = h.pop(GST_MESSAGE_ELEMENT);
    ASSERT_EQ(msgs.size(), 6u);
    gchar* described = nullptr;
    g_object_get(h.element, "describe", &described, nullptr);
    ASSERT_NE(described, nullptr);
    const nlohmann::json description = nlohmann::json::parse(described);
    g_free(described);
    for (guint64 i = 0; i < 6; ++i) {
      GstBuffer* out = gst_harness_pull(h.h);
      const GstVisionResultMeta* m = meta_of(out);
      ASSERT_NE(m, nullptr);
      EXPECT_EQ(m->frame_number, i);
      EXPECT_EQ(GST_BUFFER_PTS(out), i * GST_SECOND / 10);
      EXPECT_EQ(gst_buffer_get_n_meta(out, gst_vision_result_meta_api_get_type()), 1u);

      const GstStructure* s = gst_message_get_structure(msgs[i]);
      ASSERT_TRUE(gst_structure_has_name(s, "vision-result"));
      guint64 pts = 0, frame = 0;
      gboolean decision = FALSE;
      ASSERT_TRUE(gst_structure_get_uint64(s, "pts", &pts));
      ASSERT_TRUE(gst_structure_get_uint64(s, "frame", &frame));
      ASSERT_TRUE(gst_structure_get_boolean(s, "decision", &decision));
      EXPECT_EQ(pts, GST_BUFFER_PTS(out));
      EXPECT_EQ(frame, i);
      EXPECT_EQ(decision, m->decision);
      EXPECT_STREQ(gst_structure_get_string(s, "action"), m->action);
      EXPECT_STREQ(gst_structure_get_string(s, "params"), m->action_params);
      gint decisive = -2;
      ASSERT_TRUE(gst_structure_get_int(s, "decisive-type", &decisive));
      EXPECT_EQ(decisive, m->decisive_type);
      const GValue* types = gst_structure_get_value(s, "types");
      ASSERT_EQ(gst_value_array_get_size(types), m->n_types);
      for (guint k = 0; k < m->n_types; ++k) {
        const GstStructure* t = gst_value_get_structure(gst_value_array_get_value(types, k));
        EXPECT_STREQ(gst_structure_get_string(t, "name"), m->types[k].name);
        const GValue* score = gst_structure_get_value(t, "score");
        EXPECT_EQ(g_value_get_float(score), m->types[k].score);
        gboolean td = FALSE;
        gst_structure_get_boolean(t, "decision", &td);
        EXPECT_EQ(td, m->types[k].decision);
        // The threshold in force on this frame: for a type found defective, the type's or its peak
        // fraction of the map's peak, which lies in a region when there is one (the map's peak
        // reaches any threshold); else (no frame-sized maps in this config) the type's own.
        gdouble pixel_threshold = -1;
        EXPECT_TRUE(gst_structure_get_double(t, "pixel-threshold", &pixel_threshold));
        const double own = description.at("types").at(k).at("pixel_threshold").get<double>();
        const double share = description.at("types").at(k).at("peak_fraction").get<double>();
        EXPECT_GE(pixel_threshold, own);
        gdouble configured = -1;
        EXPECT_TRUE(gst_structure_get_double(t, "configured-pixel-threshold", &configured));
        EXPECT_EQ(configured, own);
        const GstVisionTypeDetail& detail = *gst_vision_result_meta_type_detail(m, k);  // the meta says the same
        EXPECT_EQ(detail.pixel_threshold, pixel_threshold);
        EXPECT_EQ(detail.configured_pixel_threshold, configured);
        if (!m->types[k].decision) EXPECT_EQ(pixel_threshold, own);
        double peak = 0;
        for (guint r = 0; r < m->types[k].n_regions; ++r) peak = std::max(peak, double(m->types[k].regions[r].peak));
        if (m->types[k].n_regions > 0) EXPECT_EQ(pixel_threshold, std::max(own, share * peak));
        const GValue* regions = gst_structure_get_value(t, "regions");
        EXPECT_EQ(gst_value_array_get_size(regions), m->types[k].n_regions);
        for (guint r = 0; r < m->types[k].n_regions; ++r) {  // calipers within the bounding box's reach
          const GstStructure* g = gst_value_get_structure(gst_value_array_get_value(regions, r));
          const GValue *lv = gst_structure_get_value(g, "length"), *wv = gst_structure_get_value(g, "caliper-width");
          ASSERT_TRUE(lv && wv && G_VALUE_HOLDS_FLOAT(lv) && G_VALUE_HOLDS_FLOAT(wv));
          const float length = g_value_get_float(lv), across = g_value_get_float(wv);
          EXPECT_EQ(detail.region_shapes[r].length, length);
          EXPECT_EQ(detail.region_shapes[r].width, across);
          const GstVisionRegion& box = m->types[k].regions[r];
          EXPECT_GE(across, 1);
          EXPECT_LE(across, length);
          EXPECT_LE(length, std::hypot(box.width - 1, box.height - 1) + 1 + 1e-3);
        }
      }
      gst_buffer_unref(out);
    }
    free_messages(msgs);
  }
}

TEST(GstVisionPlugin, ABatchAddsTheFramesItHoldsToTheLatency) {
  Harness h;
  gst_harness_set_upstream_latency(h.h, 5 * GST_MSECOND);
  h.caps(cv::Mat(64, 64, CV_8UC3), "BGR");  // 10 frames per second
  EXPECT_EQ(gst_harness_query_latency(h.h), 5 * GST_MSECOND);
  g_object_set(h.element, "batch", 4u, nullptr);
  EXPECT_EQ(gst_harness_query_latency(h.h), 5 * GST_MSECOND + 300 * GST_MSECOND);
  std::vector<GstMessage*> msgs = h.pop(GST_MESSAGE_LATENCY);
  EXPECT_EQ(msgs.size(), 1u);
  free_messages(msgs);
}

TEST(GstVisionPlugin, BatchedResultsMatchSingleFrameOnes) {
  const std::vector<std::string> files = synth_images();
  std::vector<std::vector<float>> scores[2];
  std::vector<std::string> actions[2];
  Harness h;
  h.caps(cv::imread(files[0]), "BGR");
  for (int run = 0; run < 2; ++run) {  // two full batches of 3, then the same frames one by one
    g_object_set(h.element, "batch", run == 0 ? 3u : 1u, nullptr);
    for (size_t i = 0; i < 6; ++i) h.push(cv::imread(files[i]), "BGR");
    for (size_t i = 0; i < 6; ++i) {
      GstBuffer* out = gst_harness_pull(h.h);
      const GstVisionResultMeta* m = meta_of(out);
      ASSERT_NE(m, nullptr);
      actions[run].push_back(m->action);
      scores[run].emplace_back();
      for (guint k = 0; k < m->n_types; ++k) scores[run].back().push_back(m->types[k].score);
      gst_buffer_unref(out);
    }
  }
  EXPECT_EQ(actions[0], actions[1]);
  for (size_t i = 0; i < 6; ++i)
    for (size_t k = 0; k < scores[0][i].size(); ++k) EXPECT_NEAR(scores[0][i][k], scores[1][i][k], 1e-4);
}

TEST(GstVisionPlugin, BadPluginOrConfigFailsTheChangeToPausedNamingTheCause) {
  mtfcdd::test::TempDir dir;
  std::ofstream(dir.file("no_model.json")) << R"({"model": "no-such-bundle"})";
  std::ofstream(dir.file("broken.json")) << R"({"model": )";
  struct Case {
    std::string plugin, config, expect;
  };
  const Case cases[] = {
      {"/no/such/plugin.so", MTFCDD_DEMO_CONFIG, "no such file"},
      {MTFCDD_NO_ENTRY_PLUGIN, MTFCDD_DEMO_CONFIG, "no vp_get_api entry point"},
      {MTFCDD_PLUGIN_PATH, dir.file("missing.json"), "cannot read"},
      {MTFCDD_PLUGIN_PATH, dir.file("no_model.json"), "no-such-bundle"},
      {MTFCDD_PLUGIN_PATH, dir.file("broken.json"), "broken.json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.plugin + " " + c.config);
    Element e(c.config.c_str(), c.plugin.c_str());
    EXPECT_EQ(gst_element_set_state(e.element, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    std::vector<GstMessage*> errors = e.pop(GST_MESSAGE_ERROR);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(message_text(errors[0]).find(c.expect), std::string::npos) << message_text(errors[0]);
    free_messages(errors);
    gst_element_set_state(e.element, GST_STATE_NULL);
    gst_object_unref(e.element);
  }
}

TEST(GstVisionPlugin, AFrameThatFailsPostsAWarningAndTheStreamGoesOn) {
  Harness h;
  const cv::Mat too_wide(1, VP_MAX_SIDE + 1, CV_8UC1, cv::Scalar(100));
  h.caps(too_wide, "GRAY8");
  ASSERT_EQ(h.push(too_wide, "GRAY8"), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(h.h);
  EXPECT_EQ(meta_of(out), nullptr);
  gst_buffer_unref(out);
  std::vector<GstMessage*> warnings = h.pop(GST_MESSAGE_WARNING);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(message_text(warnings[0]).find("frame 0 not inspected"), std::string::npos) << message_text(warnings[0]);
  EXPECT_NE(message_text(warnings[0]).find(std::to_string(VP_MAX_SIDE)), std::string::npos)
      << message_text(warnings[0]);
  free_messages(warnings);

  const cv::Mat normal = image_with("_normal");
  h.caps(normal, "BGR");
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  out = gst_harness_pull(h.h);
  ASSERT_NE(meta_of(out), nullptr);
  EXPECT_EQ(meta_of(out)->frame_number, 1u);
  gst_buffer_unref(out);
}

TEST(GstVisionPlugin, OverlayDrawsIntoTheFrameAndOnlyWhenAsked) {
  const cv::Mat defect = image_with("scratch");
  Harness h;
  for (const char* format : {"BGR", "GRAY8", "BGRA"}) {
    SCOPED_TRACE(format);
    const Format& f = *std::find_if(std::begin(kFormats), std::end(kFormats),
                                    [&](const Format& x) { return std::string(x.caps) == format; });
    const cv::Mat frame = in_format(defect, f);
    h.caps(frame, format);
    for (gboolean overlay : {0, 1}) {  // switched while playing
      g_object_set(h.element, "overlay", overlay, nullptr);
      ASSERT_EQ(h.push(frame, format), GST_FLOW_OK);
      GstBuffer* out = gst_harness_pull(h.h);
      ASSERT_TRUE(meta_of(out) && meta_of(out)->decision) << "the test image should be defective";
      GstMapInfo map;
      gst_buffer_map(out, &map, GST_MAP_READ);
      const cv::Mat got(frame.rows, frame.cols, frame.type(), map.data, GST_ROUND_UP_4(frame.cols * frame.elemSize()));
      cv::Mat diff;
      cv::absdiff(got, frame, diff);
      const int changed = cv::countNonZero(diff.reshape(1));
      if (!overlay) EXPECT_EQ(changed, 0);
      // The legend covers a corner; the tint covers the defect: more than a legend's worth changes.
      if (overlay) EXPECT_GT(changed, frame.total() / 10) << changed;
      if (overlay && f.vp == VP_PIXEL_BGRA8) {  // alpha untouched
        std::vector<cv::Mat> a(4), b(4);
        cv::split(got, a);
        cv::split(frame, b);
        EXPECT_EQ(cv::countNonZero(a[3] != b[3]), 0);
      }
      gst_buffer_unmap(out, &map);
      gst_buffer_unref(out);
    }
  }
}

TEST(GstVisionPlugin, DropDefaultDropsCleanFramesButStillPostsTheirResult) {
  Harness h;
  g_object_set(h.element, "drop-default", TRUE, nullptr);
  const cv::Mat normal = image_with("_normal"), defect = image_with("damage");
  h.caps(normal, "BGR");
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  ASSERT_EQ(h.push(defect, "BGR"), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_received(h.h), 1u);
  GstBuffer* out = gst_harness_pull(h.h);
  ASSERT_NE(meta_of(out), nullptr);
  EXPECT_EQ(meta_of(out)->frame_number, 1u);
  EXPECT_STRNE(meta_of(out)->action, "pass");
  gst_buffer_unref(out);
  std::vector<GstMessage*> msgs = h.pop(GST_MESSAGE_ELEMENT);
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_STREQ(gst_structure_get_string(gst_message_get_structure(msgs[0]), "action"), "pass");
  free_messages(msgs);
}

TEST(GstVisionPlugin, SettingsChangeThresholdsAndRoutingWhilePlaying) {
  Harness h;
  const cv::Mat normal = image_with("_normal");
  h.caps(normal, "BGR");
  const auto action_now = [&] {
    EXPECT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(h.h);
    const std::string a = meta_of(out) ? meta_of(out)->action : "<no meta>";
    gst_buffer_unref(out);
    return a;
  };
  EXPECT_EQ(action_now(), "pass");
  gchar* before = nullptr;
  g_object_get(h.element, "describe", &before, nullptr);
  ASSERT_NE(before, nullptr);

  // Every frame is a pit now, and pits go to the operator's desk.
  g_object_set(h.element, "settings", R"({"thresholds": {"pit": {"image": 0}}})", nullptr);
  EXPECT_EQ(action_now(), "manual_check");
  gchar* after = nullptr;
  g_object_get(h.element, "describe", &after, nullptr);
  EXPECT_STRNE(before, after);
  g_free(before);
  g_free(after);

  // A rejected change is reported and the previous settings stay.
  g_object_set(h.element, "settings", R"({"thresholds": {"no_such_type": {"image": 0}}})", nullptr);
  EXPECT_EQ(action_now(), "manual_check");
  std::vector<GstMessage*> warnings = h.pop(GST_MESSAGE_WARNING);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(message_text(warnings[0]).find("no_such_type"), std::string::npos) << message_text(warnings[0]);
  free_messages(warnings);

  // New routing with a rule for one object category, which the `category` property supplies.
  g_object_set(h.element, "settings",
               R"({"routing": {"actions": {"ok": {}, "look": {"at": "pits"}},
                   "rules": [{"types": ["pit"], "action": "look", "priority": 1, "categories": ["wood"]}],
                   "default": "ok"}})",
               nullptr);
  EXPECT_EQ(action_now(), "ok");
  g_object_set(h.element, "category", "wood", nullptr);
  EXPECT_EQ(action_now(), "look");
}

// Batch 4 holds buffers; a serialized event (custom, segment, gap) must not overtake them.
TEST(GstVisionPlugin, SerializedEventsLeaveAfterTheBuffersHeldBeforeThem) {
  Harness h;
  g_object_set(h.element, "batch", 4u, nullptr);
  const cv::Mat normal = image_with("_normal");
  h.caps(normal, "BGR");
  Outflow flow;
  GstPad* src = gst_element_get_static_pad(h.element, "src");
  gst_pad_add_probe(src, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                    Outflow::record, &flow, nullptr);
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_received(h.h), 0u);  // held for the batch
  gst_harness_push_event(h.h, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_new_empty("marker")));
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_harness_push_event(h.h, gst_event_new_segment(&segment));
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  gst_harness_push_event(h.h, gst_event_new_gap(0, GST_SECOND));
  EXPECT_EQ(flow.seen, (std::vector<std::string>{"buffer", "buffer", "custom-downstream", "buffer", "segment",
                                                 "buffer", "gap"}));
  EXPECT_EQ(gst_harness_buffers_received(h.h), 4u);
  gst_object_unref(src);
}

TEST(GstVisionPlugin, ARejectedSettingReadsBackTheSettingsInForce) {
  Harness h;
  const cv::Mat normal = image_with("_normal");
  h.caps(normal, "BGR");
  const std::string accepted = R"({"thresholds": {"pit": {"image": 0}}})";
  const std::string rejected = R"({"thresholds": {"no_such_type": {"image": 0}}})";
  g_object_set(h.element, "settings", accepted.c_str(), nullptr);
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  EXPECT_EQ(settings_of(h.element), accepted);
  g_object_set(h.element, "settings", rejected.c_str(), nullptr);
  EXPECT_EQ(settings_of(h.element), rejected);  // not applied yet: reads back as set
  ASSERT_EQ(h.push(normal, "BGR"), GST_FLOW_OK);
  EXPECT_EQ(settings_of(h.element), accepted);
  GstBuffer* out = gst_harness_pull(h.h);
  gst_buffer_unref(out);
  out = gst_harness_pull(h.h);
  ASSERT_NE(meta_of(out), nullptr);
  EXPECT_STREQ(meta_of(out)->action, "manual_check");  // the accepted settings are still in force
  gst_buffer_unref(out);
  std::vector<GstMessage*> warnings = h.pop(GST_MESSAGE_WARNING);
  EXPECT_EQ(warnings.size(), 1u);
  free_messages(warnings);
}

TEST(GstVisionPlugin, SettingsRejectedAtStartFailTheChangeToPausedLabelledSettings) {
  Element e;
  g_object_set(e.element, "settings", R"({"thresholds": {"no_such_type": {"image": 0}}})", nullptr);
  EXPECT_EQ(gst_element_set_state(e.element, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  std::vector<GstMessage*> errors = e.pop(GST_MESSAGE_ERROR);
  ASSERT_EQ(errors.size(), 1u);
  const std::string text = message_text(errors[0]);
  EXPECT_EQ(text.rfind("settings: ", 0), 0u) << text;
  EXPECT_NE(text.find("no_such_type"), std::string::npos) << text;
  free_messages(errors);
  gst_element_set_state(e.element, GST_STATE_NULL);
  gst_object_unref(e.element);
}

// A deep copy: every field equal to what the C ABI gives for the frame, regions and their shapes
// included, in memory of its own.
TEST(GstVisionPlugin, MetaSurvivesABufferCopy) {
  DirectDetector direct;
  Harness h;
  const cv::Mat defect = image_with("foreign_object");
  h.caps(defect, "BGR");
  h.push(defect, "BGR");
  GstBuffer* out = gst_harness_pull(h.h);
  GstBuffer* copy = gst_buffer_copy(out);
  const GstVisionResultMeta *a = meta_of(out), *b = meta_of(copy);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b, a);
  expect_meta_equals(*b, direct.process(defect, VP_PIXEL_BGR8)[0]);
  guint regions = 0;
  for (guint k = 0; k < b->n_types; ++k) {
    if (b->types[k].n_regions == 0) continue;
    regions += b->types[k].n_regions;
    EXPECT_NE(b->types[k].regions, a->types[k].regions);
    EXPECT_NE(gst_vision_result_meta_type_detail(b, k)->region_shapes,
              gst_vision_result_meta_type_detail(a, k)->region_shapes);
  }
  EXPECT_GT(regions, 0u);
  gst_buffer_unref(out);
  gst_buffer_unref(copy);
}

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  GError* err = nullptr;
  GstPlugin* plugin = gst_plugin_load_file(MTFCDD_GST_ELEMENT, &err);
  if (!plugin) {
    std::fprintf(stderr, "cannot load %s: %s\n", MTFCDD_GST_ELEMENT, err ? err->message : "?");
    return 1;
  }
  gst_object_unref(plugin);
  const int rc = RUN_ALL_TESTS();
  gst_deinit();
  return rc;
}
