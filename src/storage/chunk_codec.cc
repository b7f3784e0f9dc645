#include "kiln/storage/chunk_codec.h"

#include <cstring>

#include <fmt/format.h>
#include <zstd.h>

#include "kiln/base/hash.h"

namespace kiln::storage {

using data::Column;
using data::DataType;

namespace {

// magic(8) version(4) type(1) codec(1) reserved(2) rows(8) nulls(8) raw_size(8) stored_size(8)
constexpr size_t kHeaderSize = 48;
constexpr uint8_t kCodecZstd = 1;

size_t ValueWidth(DataType t) {
  switch (t) {
    case DataType::kBool:
      return 1;
    case DataType::kInt64:
    case DataType::kTimestamp:
    case DataType::kFloat64:
      return 8;
    case DataType::kFloat32:
    case DataType::kCategorical:
      return 4;
    case DataType::kString:
      return 8;  // offsets
  }
  return 0;
}

template <typename T>
void AppendRaw(std::string* out, const std::vector<T>& v, size_t n) {
  out->append(reinterpret_cast<const char*>(v.data()), n * sizeof(T));
}

template <typename T>
std::vector<T> TakeRaw(std::string_view* in, size_t n) {
  std::vector<T> v(n);
  if (n > 0) std::memcpy(v.data(), in->data(), n * sizeof(T));
  in->remove_prefix(n * sizeof(T));
  return v;
}

bool ValidType(uint8_t t) { return t >= 1 && t <= 7; }

}  // namespace

uint64_t TrailerChecksum(std::string_view blob) {
  return blob.size() < 8 ? 0 : DecodeFixed64(blob.data() + blob.size() - 8);
}

Result<std::string> EncodeChunk(const Column& c, int zstd_level) {
  const size_t rows = c.size();
  std::string raw;
  if (c.null_count() > 0) {
    raw.append(reinterpret_cast<const char*>(c.validity().data()), (rows + 7) / 8);
    if (c.validity().size() < (rows + 7) / 8) return InternalError("validity bitmap too short");
  }
  switch (c.type()) {
    case DataType::kBool:
      AppendRaw(&raw, c.bools(), rows);
      break;
    case DataType::kInt64:
    case DataType::kTimestamp:
      AppendRaw(&raw, c.int64s(), rows);
      break;
    case DataType::kFloat32:
      AppendRaw(&raw, c.float32s(), rows);
      break;
    case DataType::kFloat64:
      AppendRaw(&raw, c.float64s(), rows);
      break;
    case DataType::kCategorical:
      AppendRaw(&raw, c.codes(), rows);
      break;
    case DataType::kString:
      AppendRaw(&raw, c.string_offsets(), rows + 1);
      raw.append(c.string_bytes());
      break;
  }
  std::string out(kChunkMagic);
  PutFixed32(&out, kChunkFormatVersion);
  out.push_back(static_cast<char>(c.type()));
  out.push_back(static_cast<char>(kCodecZstd));
  out.append(2, '\0');
  PutFixed64(&out, rows);
  PutFixed64(&out, c.null_count());
  PutFixed64(&out, raw.size());
  const size_t bound = ZSTD_compressBound(raw.size());
  std::string compressed(bound, '\0');
  size_t n = ZSTD_compress(compressed.data(), bound, raw.data(), raw.size(), zstd_level);
  if (ZSTD_isError(n)) return InternalError(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  PutFixed64(&out, n);
  out.append(compressed.data(), n);
  PutFixed64(&out, Xxh3_64(out));
  return out;
}

Result<Column> DecodeChunk(std::string_view blob, const ChunkExpectation& expect,
                           std::string_view object, const Limits& limits) {
  auto loss = [&](std::string_view what) {
    return DataLossError(fmt::format("object {}: corrupt chunk: {}", object, what));
  };
  if (blob.size() < kHeaderSize + 8) return loss("shorter than its header");
  if (blob.substr(0, 8) != kChunkMagic) return loss("bad magic");
  if (Xxh3_64(blob.substr(0, blob.size() - 8)) != TrailerChecksum(blob)) {
    return loss("checksum mismatch");
  }
  const char* h = blob.data();
  if (DecodeFixed32(h + 8) != kChunkFormatVersion) return loss("unsupported format version");
  const uint8_t type = static_cast<uint8_t>(h[12]);
  if (!ValidType(type)) return loss("unknown column type");
  if (static_cast<uint8_t>(h[13]) != kCodecZstd) return loss("unknown codec");
  const uint64_t rows = DecodeFixed64(h + 16);
  const uint64_t nulls = DecodeFixed64(h + 24);
  const uint64_t raw_size = DecodeFixed64(h + 32);
  const uint64_t stored = DecodeFixed64(h + 40);
  if (static_cast<DataType>(type) != expect.type) return loss("column type differs from manifest");
  if (rows != expect.rows) return loss("row count differs from manifest");
  if (rows > limits.max_chunk_rows || nulls > rows) return loss("row counts out of range");
  if (stored != blob.size() - kHeaderSize - 8) return loss("payload size mismatch");
  if (raw_size > limits.max_chunk_bytes) return loss("payload too large");
  const DataType t = static_cast<DataType>(type);
  const uint64_t bitmap = nulls > 0 ? (rows + 7) / 8 : 0;
  const uint64_t fixed = bitmap + ValueWidth(t) * (rows + (t == DataType::kString ? 1 : 0));
  if (raw_size < fixed || (t != DataType::kString && raw_size != fixed)) {
    return loss("payload size does not match row count");
  }
  std::string raw(raw_size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), blob.data() + kHeaderSize, stored);
  if (ZSTD_isError(n) || n != raw_size) return loss("decompression failed");

  std::string_view in(raw);
  Column::Buffers b;
  if (bitmap > 0) b.validity = TakeRaw<uint8_t>(&in, bitmap);
  switch (t) {
    case DataType::kBool:
      b.u8 = TakeRaw<uint8_t>(&in, rows);
      for (uint8_t v : b.u8) {
        if (v > 1) return loss("bool value out of range");
      }
      break;
    case DataType::kInt64:
    case DataType::kTimestamp:
      b.i64 = TakeRaw<int64_t>(&in, rows);
      break;
    case DataType::kFloat32:
      b.f32 = TakeRaw<float>(&in, rows);
      break;
    case DataType::kFloat64:
      b.f64 = TakeRaw<double>(&in, rows);
      break;
    case DataType::kCategorical:
      b.u32 = TakeRaw<uint32_t>(&in, rows);
      for (uint32_t v : b.u32) {
        if (v >= expect.dictionary_size && expect.dictionary_size > 0) {
          return loss("category code out of range");
        }
      }
      if (expect.dictionary_size == 0 && nulls != rows) return loss("codes without a dictionary");
      break;
    case DataType::kString: {
      b.offsets = TakeRaw<uint64_t>(&in, rows + 1);
      if (b.offsets[0] != 0) return loss("bad string offsets");
      for (size_t i = 1; i <= rows; ++i) {
        if (b.offsets[i] < b.offsets[i - 1]) return loss("string offsets not monotonic");
      }
      if (b.offsets[rows] != in.size()) return loss("string bytes size mismatch");
      b.bytes = std::string(in);
      break;
    }
  }
  if (bitmap > 0) {
    uint64_t counted = 0;
    for (uint64_t i = 0; i < rows; ++i) counted += !((b.validity[i >> 3] >> (i & 7)) & 1);
    if (counted != nulls) return loss("null count mismatch");
  }
  return Column::FromBuffers(t, rows, nulls, std::move(b));
}

}  // namespace kiln::storage
