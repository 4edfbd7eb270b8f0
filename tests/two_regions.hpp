// Two 4x4 maps and masks shared by the AUPRO tests: image 0 has a one-pixel region, scored 1 (found
// first); image 1 a three-pixel region of which one pixel is scored 1; every other pixel is 0.
// Metrics.AuproRegionsArePerImage computes their AUPROs by hand.
#pragma once

#include <opencv2/core.hpp>

namespace mtfcdd::test {

struct TwoRegions {
  cv::Mat m0 = cv::Mat::zeros(4, 4, CV_32F), k0 = cv::Mat::zeros(4, 4, CV_8U);
  cv::Mat m1 = cv::Mat::zeros(4, 4, CV_32F), k1 = cv::Mat::zeros(4, 4, CV_8U);
  TwoRegions() {
    k0.at<uchar>(1, 1) = 255;  // > 127: a defect also when written as a mask file
    m0.at<float>(1, 1) = 1.0f;
    k1(cv::Rect(0, 0, 3, 1)) = 255;
    m1.at<float>(0, 0) = 1.0f;
  }
};

}  // namespace mtfcdd::test
