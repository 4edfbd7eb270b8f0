// The bundled sample model (samples/model) still holds on a synthetic test set it has never seen:
// regenerated here with a fresh seed, scored through the deployed OpenCV DNN path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "dataset.hpp"
#include <mtfcdd/dnn_model.hpp>
#include "evaluate.hpp"
#include "synth_dataset.hpp"

namespace fs = std::filesystem;

TEST(SampleModel, FreshSyntheticTestSetMeanAurocAtLeast95) {
  const fs::path dir = fs::temp_directory_path() / ("mtfcdd_sample_model_" + std::to_string(::getpid()));
  mtfcdd::synth::SynthOptions o;
  o.out = dir.string();
  o.seed = 20261123;  // not the seed the model was trained, validated or evaluated on
  o.splits = {"test"};
  o.counts = {0, 0, 320};
  mtfcdd::synth::write_dataset(o);

  const mtfcdd::Dataset data = mtfcdd::load_dataset(dir.string());
  mtfcdd::DnnModel model(MTFCDD_SAMPLE_MODEL);
  std::vector<std::string> names;
  for (const auto& t : model.manifest().types) names.push_back(t.name);
  const mtfcdd::Upsampler up = mtfcdd::upsampler_of(model.manifest());
  const auto scores = mtfcdd::score_split(model, data, "test", up);
  const auto report = mtfcdd::summarize(scores, names, up);
  fs::remove_all(dir);

  ASSERT_EQ(report.types.size(), 8u);
  for (const auto& t : report.types) {
    EXPECT_GE(t.vs_normal.positives, 20u) << t.name;  // 160 defective images over 8 types
    EXPECT_GE(t.vs_normal.auroc, 0.85) << t.name;
  }
  EXPECT_GE(report.mean.vs_normal.auroc, 0.95) << mtfcdd::markdown_report(report);
}
