// Every configuration key the server accepts is documented where operators look: the README's
// list and docs/operations.md. A key added to core/config.cpp without docs fails here.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/config.h"

namespace vmshare {
namespace {

std::string read_doc(const std::string& relative) {
  std::ifstream in(std::string(VMSHARE_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void expect_every_key_in(const std::string& relative) {
  const auto doc = read_doc(relative);
  ASSERT_FALSE(doc.empty()) << relative;
  for (const auto& key : config_keys()) EXPECT_NE(doc.find("`" + key + "`"), std::string::npos) << key << " is not in " << relative;
}

TEST(ConfigDocs, EveryKeyIsInTheReadme) { expect_every_key_in("README.md"); }

TEST(ConfigDocs, EveryKeyIsInTheOperationsGuide) { expect_every_key_in("docs/operations.md"); }

}  // namespace
}  // namespace vmshare
