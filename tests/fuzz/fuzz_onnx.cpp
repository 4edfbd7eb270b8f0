// model.onnx bytes through bundle loading (OpenCV's ONNX importer, our checks of what it built),
// with OpenCV's own layers and, where the build has them, the oneDNN ones (convolutions with the
// layers fused into them, paddings, poolings, sums): any bytes are an error naming the file,
// never a crash.
#include <filesystem>

#include <mtfcdd/dnn_model.hpp>
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mtfcdd;
  static const std::string dir = [] {
    const std::string d = (fuzz::scratch() / "bundle").string();
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(fuzz::bundle() + "/model.json", d + "/model.json");
    return d;
  }();
  fuzz::write_file("bundle/model.onnx", fuzz::text(data, size));
  for (Conv conv : {Conv::OpenCv, Conv::OneDnn}) {
    if (conv == Conv::OneDnn && !have_onednn()) continue;
    try {
      DnnModel model(dir, {Backend::Cpu, false, conv});
    } catch (const std::exception&) {
    }
  }
  return 0;
}
