// From a type's low-resolution anomaly map to what a line needs: the map at frame resolution
// and the connected regions above the pixel threshold.
#pragma once

#include <opencv2/core.hpp>
#include <mtfcdd/names.hpp>
#include <string>
#include <vector>

namespace mtfcdd {

// ReceptiveNormalized: Receptive with each pixel divided by the weight its cells' kernels give it,
// so that a part's edges and corners keep the level of its inside.
enum class Upsampling { Bilinear, Receptive, ReceptiveNormalized };

template <>
struct Names<Upsampling> {
  static constexpr std::pair<Upsampling, const char*> table[] = {
      {Upsampling::Bilinear, "bilinear"},
      {Upsampling::Receptive, "receptive"},
      {Upsampling::ReceptiveNormalized, "receptive-normalized"}};
};

// Both receptive modes place each cell where its receptive field lies and need that field.
inline bool needs_receptive_field(Upsampling m) { return m != Upsampling::Bilinear; }

// Where a map cell looks in the input, by the receptive-field arithmetic of the network's layers
// (FCDD's `reception`): cell i covers `size` input pixels centred on pixel i * stride + offset.
struct ReceptiveField {
  int size = 0, stride = 0;
  double offset = 0;
  bool known() const { return size > 0 && stride > 0; }
};

// FCDD's kernel_size_to_std: log10(0.45 k + 1) + 0.25 below 32, else 10 (the paper's sigma).
double fcdd_kernel_std(int k);
// FCDD's gkern in one dimension: scipy.signal.gaussian(k, std), peak 1; for an even k the odd
// k - 1 kernel with its centre doubled, all halved. Throws std::invalid_argument when k < 1.
std::vector<float> fcdd_kernel_1d(int k, double std);

// FCDD's receptive upsampling (Liznerski et al. 2021, Sec. 3; their receptive_upsample): a
// transposed convolution of the map with the outer product of fcdd_kernel_1d(field.size), stride
// field.stride, cell i's kernel centre on pixel i * stride + trunc(offset), cut to `input`. Each
// axis is then scaled by stride / sum(kernel) so that a uniform map keeps its level inside (a
// constant factor: no ranking changes; it keeps pixel thresholds comparable with bilinear's).
// A pixel near the input's edge is reached by the kernels of cells on one side only, so FCDD's
// maps fade there (a corner keeps under half of a uniform map's level). With `normalized`, each
// pixel is divided by the weight its cells' kernels give it: a uniform map stays uniform to the
// corners, and a defect at a part's edge or corner keeps its level.
cv::Mat receptive_upsample(const cv::Mat& map, cv::Size input, const ReceptiveField& field, bool normalized = false);

// A Gaussian of standard deviation `sigma` map cells over a CV_32FC1 map (radius ceil(3 sigma),
// weights exp(-d^2 / (2 sigma^2)) normalised to sum 1, separable; the border replicated, so that a
// defect at the edge keeps its level). sigma 0 returns `map` itself. Large defects light a map in
// patches; smoothing at the type's scale fills them. Throws std::invalid_argument when sigma < 0
// or is not finite, or for another map type.
cv::Mat smooth_map(const cv::Mat& map, double sigma);

// From a type's CV_32F map of model resolution to any size: smoothed at the type's scale, then
// scaled bilinearly (the paper), or receptively (either mode) at the model input size and then
// bilinearly to the requested size when it differs.
struct Upsampler {
  Upsampling mode = Upsampling::Bilinear;
  ReceptiveField field;           // the receptive modes need it
  cv::Size input;                 // the model input the field refers to
  std::vector<double> smoothing;  // per type: smooth_map's sigma in map cells; missing = 0
  cv::Mat smooth(const cv::Mat& map, size_t type) const;
  cv::Mat scale(const cv::Mat& smoothed, cv::Size size) const;
  cv::Mat operator()(const cv::Mat& map, cv::Size size, size_t type) const { return scale(smooth(map, type), size); }
};

// A region's caliper (Feret) diameters in pixels: over all directions, the largest and the smallest
// distance between two parallel lines touching its pixel centres on both sides, plus one pixel, so
// that one pixel is 1 x 1 and a run of n pixels n x 1. A straight scratch's or crack's length and
// width whatever its direction; of a curved one, its chord and its bow.
struct Calipers {
  float length = 0, width = 0;
};

// The calipers of a set of pixel centres (any order, repeats allowed); 0 x 0 when empty.
Calipers calipers(const std::vector<cv::Point>& pixels);

struct Region {
  cv::Rect box;
  int64_t area = 0;
  float peak = 0, mean = 0;
  Calipers calipers;
};

// The pixel threshold in force on one map: `threshold`, raised to `peak_fraction` times the map's
// peak when that is higher. A map is raised all around a strong defect; an absolute threshold low
// enough for faint ones then draws regions far wider than the strong one, while a share of the
// peak keeps them to its core (CAM-style localization, e.g. Zhou et al. 2016: 20% of the peak).
// peak_fraction 0 gives `threshold`. Throws std::invalid_argument when peak_fraction lies outside
// [0, 1) or the map is not CV_32FC1.
double pixel_threshold_in_force(double threshold, double peak_fraction, const cv::Mat& map);

// 8-connected regions of `map` >= threshold with at least `min_area` pixels, largest first.
std::vector<Region> find_regions(const cv::Mat& map, float threshold, int64_t min_area);

}  // namespace mtfcdd
