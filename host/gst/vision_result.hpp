// A plugin's frame result in GStreamer's terms: the buffer meta (gstvisionresultmeta.h) and the
// `vision-result` element message.
#pragma once

#include <gst/gst.h>

#include "gstvisionresultmeta.h"
#include "vision_plugin.h"

namespace mtfcdd::gst {

// Registers the meta's API type under GST_VISION_RESULT_META_API_NAME (idempotent).
GType vision_result_meta_api_register();

// Attaches a deep copy of `result` to `buffer` (which must be writable).
GstVisionResultMeta* add_vision_result_meta(GstBuffer* buffer, const VpFrameResult& result, guint64 frame_number);

// The `vision-result` message's structure: pts, frame, decision, action, params, matches,
// decisive-type, and types, an array of `type` structures (name, score, probability, threshold,
// decision, pixel-threshold, configured-pixel-threshold, regions, an array of `region` structures
// x, y, width, height, area, peak, mean, length, caliper-width).
GstStructure* vision_result_structure(const VpFrameResult& result, GstClockTime pts, guint64 frame_number);

}  // namespace mtfcdd::gst
