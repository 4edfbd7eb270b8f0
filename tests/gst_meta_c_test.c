/* Reads the visionplugin element's results from plain C through gstvisionresultmeta.h alone:
 * a pad probe downstream of the element, as the header's documentation shows.
 *
 *   gst_meta_c_test ELEMENT.so PLUGIN.so CONFIG.json [DEFECT.png]
 *
 * Without an image the frames are videotestsrc's; with one, that picture four times, and its
 * regions must be found. */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gstvisionresultmeta.h"

typedef struct Seen {
  guint buffers, with_meta, bad, regions;
} Seen;

static GstPadProbeReturn on_buffer(GstPad* pad, GstPadProbeInfo* info, gpointer user) {
  Seen* seen = user;
  const GstVisionResultMeta* m = gst_buffer_get_vision_result_meta(GST_PAD_PROBE_INFO_BUFFER(info));
  seen->buffers++;
  if (!m) return GST_PAD_PROBE_OK;
  seen->with_meta++;
  /* The sample model's eight types, each with a probability in [0, 1] that agrees with its decision. */
  if (m->version != GST_VISION_RESULT_META_VERSION || m->frame_number != seen->buffers - 1 || m->n_types != 8 ||
      !m->action || !*m->action || !m->action_params || m->action_params[0] != '{')
    seen->bad++;
  gboolean any = FALSE;
  for (guint i = 0; i < m->n_types; ++i) {
    const GstVisionTypeResult* t = &m->types[i];
    if (!t->name || !(t->probability >= 0 && t->probability <= 1) || t->decision != (t->score >= t->threshold))
      seen->bad++;
    any = any || t->decision;
    /* Version 3: the threshold in force is never below the type's own; each region's width lies
       between one pixel and its length, which is at most its bounding box's centre-to-centre
       diagonal plus one. */
    const GstVisionTypeDetail* d = gst_vision_result_meta_type_detail(m, i);
    if (!d) {
      seen->bad++;
      continue;
    }
    if (!(d->pixel_threshold >= d->configured_pixel_threshold && d->configured_pixel_threshold > 0)) seen->bad++;
    if (t->n_regions > 0 && !d->region_shapes) seen->bad++;
    for (guint r = 0; r < t->n_regions && d->region_shapes; ++r) {
      const GstVisionRegionShape s = d->region_shapes[r];
      const GstVisionRegion* box = &t->regions[r];
      const double diagonal = sqrt((double)(box->width - 1) * (box->width - 1) + (double)(box->height - 1) * (box->height - 1));
      if (!(s.width >= 1 && s.width <= s.length && s.length <= diagonal + 1 + 1e-3)) seen->bad++;
    }
    seen->regions += t->n_regions;
  }
  if (any != m->decision) seen->bad++;
  /* The decisive type is a positive type of a defective frame, -1 on a clean one. */
  if (m->decision ? m->decisive_type < 0 || (guint)m->decisive_type >= m->n_types || !m->types[m->decisive_type].decision
                  : m->decisive_type != -1)
    seen->bad++;
  return GST_PAD_PROBE_OK;
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s ELEMENT.so PLUGIN.so CONFIG.json [DEFECT.png]\n", argv[0]);
    return 2;
  }
  gst_init(NULL, NULL);
  GError* err = NULL;
  GstPlugin* element = gst_plugin_load_file(argv[1], &err);
  if (!element) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], err->message);
    return 1;
  }
  gst_object_unref(element);
  gchar* source = argc == 5 ? g_strdup_printf("filesrc location=\"%s\" ! pngdec ! videoconvert ! imagefreeze num-buffers=4",
                                              argv[4])
                            : g_strdup("videotestsrc num-buffers=4 pattern=ball ! video/x-raw,width=128,height=96");
  gchar* desc = g_strdup_printf(
      "%s ! videoconvert ! video/x-raw,format=BGRx ! visionplugin plugin=\"%s\" config=\"%s\" ! fakesink name=sink",
      source, argv[2], argv[3]);
  g_free(source);
  GstElement* pipeline = gst_parse_launch(desc, &err);
  g_free(desc);
  if (!pipeline) {
    fprintf(stderr, "pipeline: %s\n", err->message);
    return 1;
  }
  Seen seen = {0, 0, 0, 0};
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &seen, NULL);
  gst_object_unref(pad);
  gst_object_unref(sink);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  int rc = 0;
  if (!msg || GST_MESSAGE_TYPE(msg) != GST_MESSAGE_EOS) {
    fprintf(stderr, "the pipeline did not reach EOS\n");
    rc = 1;
  }
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  printf("buffers %u, with a meta %u, regions %u, inconsistent %u\n", seen.buffers, seen.with_meta, seen.regions,
         seen.bad);
  if (seen.buffers != 4 || seen.with_meta != 4 || seen.bad != 0 || (argc == 5 && seen.regions == 0)) rc = 1;
  gst_deinit();
  return rc;
}
