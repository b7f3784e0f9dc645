#include "kiln/base/status.h"

#include <memory>

#include <gtest/gtest.h>

namespace kiln {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  KILN_ASSIGN_OR_RETURN(*out, Half(x));
  return Status::Ok();
}

Status Chain(int x) {
  KILN_RETURN_IF_ERROR(Half(x));
  KILN_RETURN_IF_ERROR(Status::Ok());
  return NotFoundError("reached the end");
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFoundError("no such dataset");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: no such dataset");
  EXPECT_EQ(s.WithContext("show x").message(), "show x: no such dataset");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(StatusTest, Macros) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(UseHalf(7, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Chain(3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Chain(4).code(), StatusCode::kNotFound);
}

TEST(StatusTest, ResultHoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
  Result<std::unique_ptr<int>> e(InternalError("x"));
  EXPECT_FALSE(e.ok());
}

TEST(StatusTest, ResultFromOkStatusIsAnError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoToStatus(ENOENT, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EIO, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(ErrnoToStatus(EACCES, "x").code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(ErrnoToStatus(ENOSPC, "write f").message().find("write f"), std::string::npos);
}

}  // namespace
}  // namespace kiln
