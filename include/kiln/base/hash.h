// Checksums and content addresses.
//   Xxh3_64: fast checksum of every stored byte range (verified on every read).
//   Sha256Hex: content address of blobs and source files (OpenSSL).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace kiln {

uint64_t Xxh3_64(std::string_view data);
// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256 for streams (e.g. hashing a source file while it is parsed).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  // Finishes and returns the hex digest; the stream must not be updated after.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Writes little-endian fixed-width integers (the byte order of every kiln file format).
void PutFixed32(std::string* out, uint32_t v);
void PutFixed64(std::string* out, uint64_t v);
uint32_t DecodeFixed32(const char* p);
uint64_t DecodeFixed64(const char* p);

}  // namespace kiln
