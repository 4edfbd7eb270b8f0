#include "safetensors.hpp"

#include <cstring>
#include <fstream>
#include <mtfcdd/json_input.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace mtfcdd {
namespace {

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: renormalise
    exp = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

size_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F64") return 8;
  return 0;
}

std::vector<float> to_float(const std::string& dtype, const char* p, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (dtype == "F32") {
      std::memcpy(&out[i], p + 4 * i, 4);
    } else if (dtype == "F64") {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      out[i] = static_cast<float>(d);
    } else {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      if (dtype == "F16") {
        out[i] = half_to_float(h);
      } else {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        std::memcpy(&out[i], &bits, 4);
      }
    }
  }
  return out;
}

}  // namespace

TensorMap read_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error("cannot open weights file " + path);
  const auto file_size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  const auto fail = [&](const std::string& why) {
    return std::runtime_error(path + ": not a valid safetensors file: " + why);
  };
  unsigned char len_bytes[8];
  if (file_size < 8 || !f.read(reinterpret_cast<char*>(len_bytes), 8))
    throw fail("shorter than its 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > file_size - 8) throw fail("header length exceeds the file (truncated?)");
  std::string header(header_len, '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json meta;
  try {
    meta = parse_json(header);  // with a nesting limit
  } catch (const std::exception& e) {
    throw fail(std::string("header is not JSON: ") + e.what());
  }
  if (!meta.is_object()) throw fail("header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_len;
  std::string blob(data_size, '\0');
  f.read(blob.data(), static_cast<std::streamsize>(data_size));

  TensorMap out;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& t = it.value();
    const std::string name = it.key();
    try {
      const std::string dtype = t.at("dtype").get<std::string>();
      const size_t esize = dtype_size(dtype);
      if (esize == 0) throw fail("tensor '" + name + "' has unsupported dtype " + dtype);
      HostTensor ht;
      ht.shape = t.at("shape").get<std::vector<int64_t>>();
      const auto offs = t.at("data_offsets").get<std::vector<uint64_t>>();
      uint64_t count = 1;
      for (int64_t d : ht.shape) {
        if (d < 0) throw fail("tensor '" + name + "' has a negative dimension");
        count *= static_cast<uint64_t>(d);
      }
      if (offs.size() != 2 || offs[0] > offs[1] || offs[1] > data_size)
        throw fail("tensor '" + name + "' lies outside the file (truncated?)");
      if (offs[1] - offs[0] != count * esize)
        throw fail("tensor '" + name + "' byte size does not match its shape");
      ht.data = to_float(dtype, blob.data() + offs[0], count);
      out.emplace(name, std::move(ht));
    } catch (const nlohmann::json::exception& e) {
      throw fail("tensor '" + name + "' entry is malformed: " + e.what());
    }
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorMap& tensors) {
  nlohmann::json meta = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = t.data.size() * 4;
    meta[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header = meta.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // keep tensor data 8-byte aligned
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + path);
  uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((len >> (8 * i)) & 0xff));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& [name, t] : tensors)
    f.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size() * 4));
  if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace mtfcdd
