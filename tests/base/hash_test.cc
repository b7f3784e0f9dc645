#include "kiln/base/hash.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(HashTest, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256Stream s;
  s.Update("a");
  s.Update("bc");
  EXPECT_EQ(s.FinishHex(), Sha256Hex("abc"));
}

TEST(HashTest, Xxh3IsStableAndSensitive) {
  EXPECT_EQ(Xxh3_64("kiln"), Xxh3_64("kiln"));
  EXPECT_NE(Xxh3_64("kiln"), Xxh3_64("kilm"));
}

TEST(HashTest, FixedWidthRoundTrip) {
  std::string buf;
  PutFixed32(&buf, 0xdeadbeef);
  PutFixed64(&buf, 0x0123456789abcdefull);
  ASSERT_EQ(buf.size(), 12u);
  EXPECT_EQ(static_cast<unsigned char>(buf[0]), 0xef);  // little-endian
  EXPECT_EQ(DecodeFixed32(buf.data()), 0xdeadbeefu);
  EXPECT_EQ(DecodeFixed64(buf.data() + 4), 0x0123456789abcdefull);
}

}  // namespace
}  // namespace kiln
