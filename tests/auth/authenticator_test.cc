// Tokens, roles and the Authenticator over an in-memory token list.
#include "kiln/auth/authenticator.h"

#include <chrono>
#include <map>
#include <set>

#include <gtest/gtest.h>

namespace kiln::auth {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(TokenTest, ShapeAndHash) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = GenerateToken();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->secret.size(), 69u);
    EXPECT_TRUE(t->secret.starts_with("kiln_"));
    EXPECT_TRUE(LooksLikeToken(t->secret)) << t->secret;
    EXPECT_EQ(t->hash, TokenHash(t->secret));
    EXPECT_EQ(t->hash.size(), 64u);
    EXPECT_NE(t->hash, t->secret.substr(5));
    EXPECT_TRUE(seen.insert(t->secret).second);
  }
  EXPECT_EQ(TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(LooksLikeToken(""));
  EXPECT_FALSE(LooksLikeToken("kiln_" + std::string(63, 'a')));
  EXPECT_FALSE(LooksLikeToken("kiln_" + std::string(64, 'A')));
  EXPECT_FALSE(LooksLikeToken("kilo_" + std::string(64, 'a')));
  EXPECT_TRUE(LooksLikeToken("kiln_" + std::string(64, '0')));
}

TEST(TokenTest, RolesAndPermissions) {
  for (const char* name : {"viewer", "predictor", "trainer", "deployer", "admin"}) {
    auto r = ParseRole(name);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(RoleName(*r), name);
  }
  EXPECT_EQ(ParseRole("root").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseRole("Admin").status().code(), StatusCode::kInvalidArgument);
  // Each role has exactly the permissions of the roles before it plus its own.
  const Role roles[] = {Role::kViewer, Role::kPredictor, Role::kTrainer, Role::kDeployer,
                        Role::kAdmin};
  const Permission perms[] = {Permission::kRead, Permission::kInfer, Permission::kSubmit,
                              Permission::kDeploy, Permission::kAdmin};
  for (int r = 0; r < 5; ++r) {
    EXPECT_TRUE(Allows(roles[r], Permission::kPublic));
    for (int p = 0; p < 5; ++p) {
      EXPECT_EQ(Allows(roles[r], perms[p]), p <= r)
          << RoleName(roles[r]) << " " << PermissionName(perms[p]);
    }
  }
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [name, role] :
         {std::pair{"viewer", Role::kViewer}, std::pair{"predictor", Role::kPredictor},
          std::pair{"deployer", Role::kDeployer}}) {
      Add(name, role, 0, 0);
    }
    Add("old", Role::kAdmin, NowMs() - 1, 0);      // expired
    Add("gone", Role::kAdmin, 0, NowMs() - 1000);  // revoked
    auto a = Authenticator::Create(
        [this]() -> Result<std::vector<TokenRecord>> {
          if (fail_load_) return UnavailableError("catalog down");
          return records_;
        },
        [this](const std::vector<std::pair<std::string, int64_t>>& used) {
          touched_.insert(touched_.end(), used.begin(), used.end());
          return Status::Ok();
        });
    ASSERT_TRUE(a.ok());
    auth_ = std::move(*a);
  }
  void Add(const std::string& name, Role role, int64_t expires, int64_t revoked) {
    auto t = GenerateToken();
    ASSERT_TRUE(t.ok());
    secrets_[name] = t->secret;
    TokenRecord r;
    r.name = name;
    r.role = role;
    r.hash = t->hash;
    r.expires_ms = expires;
    r.revoked_ms = revoked;
    records_.push_back(r);
  }
  StatusCode Code(const std::string& header, Permission p) {
    return auth_->Check(header, p).status().code();
  }
  std::string Bearer(const std::string& name) { return "Bearer " + secrets_[name]; }

  std::vector<TokenRecord> records_;
  std::map<std::string, std::string> secrets_;
  std::vector<std::pair<std::string, int64_t>> touched_;
  bool fail_load_ = false;
  std::unique_ptr<Authenticator> auth_;
};

TEST_F(AuthenticatorTest, BadCredentialsAreUnauthenticated) {
  const auto kUnauth = StatusCode::kUnauthenticated;
  EXPECT_EQ(Code("", Permission::kRead), kUnauth);
  EXPECT_EQ(Code("Bearer", Permission::kRead), kUnauth);
  EXPECT_EQ(Code("Bearer ", Permission::kRead), kUnauth);
  EXPECT_EQ(Code("Basic dXNlcjpwYXNz", Permission::kRead), kUnauth);
  EXPECT_EQ(Code(secrets_["viewer"], Permission::kRead), kUnauth);  // no scheme
  EXPECT_EQ(Code("Bearer " + secrets_["viewer"] + "0", Permission::kRead), kUnauth);
  EXPECT_EQ(Code("Bearer kiln_" + std::string(64, '0'), Permission::kRead), kUnauth);
  EXPECT_EQ(Code("Bearer " + records_[0].hash, Permission::kRead), kUnauth);  // the hash is no key
  auto expired = auth_->Check(Bearer("old"), Permission::kRead);
  EXPECT_EQ(expired.status().code(), kUnauth);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
  auto revoked = auth_->Check(Bearer("gone"), Permission::kRead);
  EXPECT_EQ(revoked.status().code(), kUnauth);
  EXPECT_NE(revoked.status().message().find("revoked"), std::string::npos);
  // Nothing of the presented token is echoed.
  for (const auto& s : {expired.status(), revoked.status()}) {
    EXPECT_EQ(s.message().find("kiln_"), std::string::npos) << s.message();
  }
  // Public needs nothing at all.
  EXPECT_TRUE(auth_->Check("", Permission::kPublic).ok());
  EXPECT_TRUE(auth_->Check("garbage", Permission::kPublic).ok());
}

TEST_F(AuthenticatorTest, RolesGrantTheirPermissions) {
  auto who = auth_->Check(Bearer("predictor"), Permission::kInfer);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->name, "predictor");
  EXPECT_EQ(who->role, Role::kPredictor);
  EXPECT_TRUE(auth_->Check("bearer  " + secrets_["viewer"] + " ", Permission::kRead).ok());
  EXPECT_EQ(Code(Bearer("viewer"), Permission::kInfer), StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(Bearer("predictor"), Permission::kSubmit), StatusCode::kPermissionDenied);
  EXPECT_TRUE(auth_->Check(Bearer("deployer"), Permission::kDeploy).ok());
  auto denied = auth_->Check(Bearer("deployer"), Permission::kAdmin);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(denied.status().message().find("'admin' permission"), std::string::npos);
  EXPECT_EQ(auth_->active(), 3u);
}

TEST_F(AuthenticatorTest, RefreshSeesRevocationsAndRecordsUse) {
  ASSERT_TRUE(auth_->Check(Bearer("viewer"), Permission::kRead).ok());
  records_[0].revoked_ms = NowMs();                                     // the catalog revokes it
  EXPECT_TRUE(auth_->Check(Bearer("viewer"), Permission::kRead).ok());  // until a refresh
  ASSERT_TRUE(auth_->Refresh().ok());
  EXPECT_EQ(Code(Bearer("viewer"), Permission::kRead), StatusCode::kUnauthenticated);
  ASSERT_EQ(touched_.size(), 1u);
  EXPECT_EQ(touched_[0].first, records_[0].hash);
  EXPECT_GT(touched_[0].second, 0);
  // A failing catalog keeps the last snapshot in force.
  fail_load_ = true;
  EXPECT_EQ(auth_->Refresh().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(auth_->Check(Bearer("deployer"), Permission::kDeploy).ok());
}

}  // namespace
}  // namespace kiln::auth
