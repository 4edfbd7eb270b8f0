// Training-time augmentation (paper: applied to half the images): rotation, translation,
// brightness and contrast, on an image already at the model's input size; optionally mirror
// flips, for parts whose defects look the same mirrored (tiles, sheets, fabric; not text), a
// per-axis stretch, for parts whose images come in several sizes and aspect ratios, and a scale.
#pragma once

#include <opencv2/core.hpp>
#include <random>

namespace mtfcdd {

struct AugmentConfig {
  double probability = 0.5;     // share of images augmented
  double max_rotation_deg = 15;
  double max_shift_px = 20;
  double max_brightness = 25;   // added offset, 0..255 units
  double max_contrast = 0.2;    // gain in [1 - c, 1 + c]
  bool flip_horizontal = false; // each with probability 1/2 on an augmented image
  bool flip_vertical = false;
  // Each axis shrunk about the centre by a factor log-uniform in [1/(1+s), 1]; 0 = off. Images
  // of different shapes are squashed differently to the model input (Magnetic Tile: 103-632 px
  // wide to 224), so the same defect reaches the network at many aspect ratios. Only shrunk:
  // enlarging would push defects at the part's edge (a break, a fray) out of the frame while the
  // label still names them.
  double max_stretch = 0;
  // Both axes shrunk by one factor log-uniform in [1/(1+s), 1]; 0 = off. For "fit" inputs, which
  // keep each image's aspect ratio but place wide and narrow parts at different scales.
  double max_scale = 0;
};

// Draws its parameters from `rng`; returns the input untouched when the draw says so.
cv::Mat augment(const cv::Mat& image, const AugmentConfig& cfg, std::mt19937_64& rng);

}  // namespace mtfcdd
