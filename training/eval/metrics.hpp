// Evaluation metrics: image level (AUROC, AP, max-F1) and pixel level (pixel AUROC, AUPRO).
// Pure functions; every curve is computed exactly from one descending sort, with tied scores
// treated as a single threshold (so results match sklearn / ADEval, not an approximation).
#pragma once

#include <opencv2/core.hpp>

#include <vector>

namespace mtfcdd {

// labels: 1 = positive, 0 = negative. Return NaN when one class is absent.
// Throws std::invalid_argument on different lengths, a label other than 0/1 or a non-finite score.

// Mann-Whitney U / (P N) with mid-ranks for ties (== sklearn roc_auc_score).
double auroc(const std::vector<double>& scores, const std::vector<int>& labels);
// sklearn average_precision_score: sum_n (R_n - R_{n-1}) P_n over distinct thresholds, ties grouped.
double average_precision(const std::vector<double>& scores, const std::vector<int>& labels);

struct F1Result {
  double f1 = 0, threshold = 0, precision = 0, recall = 0;
};
// Best F1 over thresholds "positive iff score >= threshold", threshold = a score value, ties
// grouped; on equal F1 the highest threshold wins. All fields NaN when one class is absent.
// `missed`: further positives the rule never fires on, false negatives at every threshold (recall
// is over the labels' positives plus them); with missed > 0 F1 is never NaN, and an empty `scores`
// gives F1 0 with a NaN threshold. Throws as above, and when missed is negative or not
// finite.
F1Result max_f1(const std::vector<double>& scores, const std::vector<int>& labels, double missed = 0);

// Pixel level. maps: CV_32F single-channel; masks: CV_8U single-channel, same size, non-zero =
// defect. Throws std::invalid_argument on count/size/type mismatch, empty input or a non-finite
// score.

// AUROC over all pixels of all images pooled; NaN when no defect or no normal pixel.
double pixel_auroc(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks);

// Pixels pooled, "defect iff score >= threshold": F1, precision and recall at the given threshold
// (precision 0 when no pixel reaches it); all NaN when no pixel is a defect.
// With peak_fraction > 0 each image's threshold is raised to that share of its map's peak
// (pixel_threshold_in_force: the detector's regions).
F1Result pixel_f1(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks, double threshold,
                  double peak_fraction = 0);
// The best of those over thresholds (max_f1 over the pooled pixels); NaN as max_f1.
F1Result pixel_max_f1(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks);

// Both of the above from one sort of the pooled pixels.
struct PixelRanking {
  double auroc = 0;
  F1Result best;
};
PixelRanking pixel_ranking(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks);

// AUPRO as ADEval / anomalib compute it: ground-truth regions = 8-connected components of each
// mask (per image); for a threshold t, FPR = fraction of all normal pixels with score >= t and
// PRO = mean over all regions of the fraction of the region with score >= t. PRO is integrated
// over FPR in [0, fpr_limit] exactly (trapezoids between distinct thresholds, the last segment
// interpolated at fpr_limit) and divided by fpr_limit, so a perfect detector gives 1.
// NaN when there is no region or no normal pixel; fpr_limit must lie in (0, 1].
double aupro(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks,
             double fpr_limit = 0.3);
// Each region's own AUPRO: its PRO integrated over the same FPR axis, so that aupro() is their
// mean and their spread tells how far it rests on a few regions. Empty where aupro() is NaN.
std::vector<double> region_aupros(const std::vector<cv::Mat>& maps, const std::vector<cv::Mat>& masks,
                                  double fpr_limit = 0.3);
// The index of the image each region of region_aupros(maps, masks) lies in, in the same order.
std::vector<size_t> region_images(const std::vector<cv::Mat>& masks);

// Standard errors over clusters: values (images, regions) of one cluster (the same physical part
// photographed several times) are not independent, so each cluster counts once. clusters[i] is
// value i's cluster id (any numbering); with every value its own cluster they are the usual ones.

// The standard error of the mean of `values`, cluster-robust (Liang & Zeger 1986: the sum of each
// cluster's deviations from the mean, squared, times G/(G-1) over G clusters, over n^2). NaN for
// fewer than two clusters. Throws std::invalid_argument on different lengths.
double standard_error(const std::vector<double>& values, const std::vector<size_t>& clusters);
// The standard error of the AUROC of `scores` (labels as auroc()) over clustered data (Obuchowski
// 1997; DeLong et al. 1988 when every image is its own cluster): each image's share of the AUROC
// (the fraction of the other class it ranks correctly, ties half) summed per cluster. NaN when a
// class has fewer than two clusters. Throws as auroc() and on a clusters length other than scores'.
double auroc_standard_error(const std::vector<double>& scores, const std::vector<int>& labels,
                            const std::vector<size_t>& clusters);

// A rule's pixel counts over one cluster (the images of one part).
struct F1Counts {
  double tp = 0, fp = 0, fn = 0;
};
// F1 = 2 TP / (2 TP + FP + FN) of the counts summed over clusters; NaN without any positive or fire.
double pooled_f1(const std::vector<F1Counts>& clusters);
// The cluster-robust standard error of pooled_f1(a) - pooled_f1(b), two rules counted over the same
// clusters (a[g] and b[g]: cluster g). The delta method for a ratio of sums R = sum A / sum B: each
// cluster's share (A_g - R B_g) / sum B, the two rules' shares subtracted per cluster, then summed
// as standard_error does (G / (G - 1) times the sum of squares over G clusters). NaN for fewer than
// two clusters or an undefined F1. Throws std::invalid_argument when the lengths differ.
double f1_difference_se(const std::vector<F1Counts>& a, const std::vector<F1Counts>& b);

// The median equivalent radius sqrt(area / pi), in pixels, of the masks' 8-connected regions
// (nonzero pixels; each mask's regions counted apart, the upper median of an even count); NaN
// without any region.
double median_region_radius(const std::vector<cv::Mat>& masks);

}  // namespace mtfcdd
