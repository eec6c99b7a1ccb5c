// `vmshare image add|remove` edit the catalog's text with pure functions: every result parses,
// every refusal says why, and the rest of the document is kept.
#include "vm/catalog_edit.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

using namespace vmshare::vm;

namespace {

Profile disk(const std::string& name) {
  Profile p;
  p.name = name;
  p.base_image = "/srv/images/" + name + ".qcow2";
  p.memory_mb = 512;
  p.cpus = 2;
  return p;
}

std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const CatalogError& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string kHandWritten =
    R"({"comment":"kept","profiles":[{"name":"tiny","base_image":"/a/tiny.qcow2","memory_mb":256,"cpus":1,)"
    R"("future_field":[1,2]}]})";

}  // namespace

TEST(CatalogEdit, AddsToAMissingCatalog) {
  const auto text = catalog_with_profile("", disk("debian"));
  const auto c = parse_catalog(text);
  ASSERT_EQ(c.profiles().size(), 1u);
  EXPECT_EQ(c.profiles()[0].name, "debian");
  EXPECT_EQ(c.profiles()[0].title, "debian");
  EXPECT_EQ(c.profiles()[0].base_image, "/srv/images/debian.qcow2");
  EXPECT_EQ(c.profiles()[0].memory_mb, 512);
  EXPECT_EQ(c.profiles()[0].cpus, 2);
}

TEST(CatalogEdit, AddKeepsOtherProfilesAndUnknownFields) {
  const auto text = catalog_with_profile(kHandWritten, disk("debian"));
  const auto doc = nlohmann::json::parse(text);
  EXPECT_EQ(doc["comment"], "kept");
  EXPECT_EQ(doc["profiles"][0]["future_field"], nlohmann::json::array({1, 2}));
  const auto c = parse_catalog(text);
  ASSERT_EQ(c.profiles().size(), 2u);
  EXPECT_EQ(c.profiles()[0].name, "tiny");
  EXPECT_EQ(c.profiles()[1].name, "debian");
}

TEST(CatalogEdit, InstallerProfilesNeedNoBaseImage) {
  Profile iso;
  iso.name = "installer";
  iso.iso = "/srv/images/installer-1.iso";
  iso.memory_mb = 1024;
  iso.cpus = 1;
  Profile kernel = iso;
  kernel.name = "netboot";
  kernel.iso.clear();
  kernel.kernel = "/srv/images/netboot-1.kernel";
  kernel.initrd = "/srv/images/netboot-1.initrd";
  kernel.append = "vga=788 --- quiet";
  const auto c = parse_catalog(catalog_with_profile(catalog_with_profile("", iso), kernel));
  EXPECT_EQ(c.find("installer")->iso, "/srv/images/installer-1.iso");
  EXPECT_TRUE(c.find("installer")->base_image.empty());
  EXPECT_EQ(c.find("netboot")->kernel, "/srv/images/netboot-1.kernel");
  EXPECT_EQ(c.find("netboot")->append, "vga=788 --- quiet");
}

TEST(CatalogEdit, RefusesADuplicateName) {
  EXPECT_NE(refusal([] { catalog_with_profile(kHandWritten, disk("tiny")); }).find("already in the catalog"),
            std::string::npos);
}

TEST(CatalogEdit, NeverEditsABrokenCatalog) {
  EXPECT_NE(refusal([] { catalog_with_profile("{\"profiles\":[", disk("a")); }).find("invalid JSON"), std::string::npos);
  EXPECT_NE(refusal([] { catalog_without_profile(R"({"profiles":[{"name":"x"}]})", "x"); }).find("\"x\""),
            std::string::npos);
}

TEST(CatalogEdit, RefusesAProfileTheServerWouldRefuse) {
  Profile bad = disk("ok");
  bad.base_image = "relative.qcow2";
  EXPECT_NE(refusal([&] { catalog_with_profile("", bad); }).find("absolute"), std::string::npos);
  Profile none = disk("none");
  none.base_image.clear();
  EXPECT_NE(refusal([&] { catalog_with_profile("", none); }).find("base_image"), std::string::npos);
}

TEST(CatalogEdit, RemovesOnlyTheNamedProfile) {
  const auto two = catalog_with_profile(kHandWritten, disk("debian"));
  const auto text = catalog_without_profile(two, "tiny");
  const auto c = parse_catalog(text);
  ASSERT_EQ(c.profiles().size(), 1u);
  EXPECT_EQ(c.profiles()[0].name, "debian");
  EXPECT_EQ(nlohmann::json::parse(text)["comment"], "kept");
  // The last one too: an empty catalog is still a catalog.
  EXPECT_TRUE(parse_catalog(catalog_without_profile(text, "debian")).empty());
}

TEST(CatalogEdit, RemovingAnUnknownNameSaysSo) {
  EXPECT_NE(refusal([] { catalog_without_profile(kHandWritten, "nope"); }).find("no image \"nope\""), std::string::npos);
  EXPECT_NE(refusal([] { catalog_without_profile("", "nope"); }).find("no image"), std::string::npos);
}

TEST(ImageAddRequest, AcceptsADiskOrAKernel) {
  ImageAddRequest r;
  r.name = "debian-12";
  r.file = "/tmp/d.qcow2";
  EXPECT_NO_THROW(validate_image_add(r));
  r.file.clear();
  r.kernel = "linux";
  r.initrd = "initrd.gz";
  r.append = "vga=788 --- quiet";
  EXPECT_NO_THROW(validate_image_add(r));
}

TEST(ImageAddRequest, RefusesBadNamesNumbersAndCombinations) {
  auto with = [](auto change) {
    ImageAddRequest r;
    r.name = "ok";
    r.file = "/tmp/d.qcow2";
    change(r);
    return refusal([&] { validate_image_add(r); });
  };
  EXPECT_NE(with([](auto& r) { r.name = "Debian"; }).find("image name"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.name = "-rf"; }).find("image name"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.name = "a/b"; }).find("image name"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.name = std::string(33, 'a'); }).find("image name"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.name = ""; }).find("image name"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.name = "custom"; }).find("reserved"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.memory_mb = 63; }).find("--memory 63"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.memory_mb = 65537; }).find("--memory"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.cpus = 0; }).find("--cpus 0"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.cpus = 65; }).find("--cpus"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.kind = "Win dows"; }).find("--kind"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.title = "two\nlines"; }).find("--title"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.file.clear(); }).find("--kernel"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.initrd = "i"; }).find("--initrd needs --kernel"), std::string::npos);
  EXPECT_NE(with([](auto& r) { r.append = "quiet"; }).find("--append needs --kernel"), std::string::npos);
  EXPECT_NE(with([](auto& r) {
              r.kernel = "k";
              r.append = std::string(2049, 'a');
            }).find("--append"),
            std::string::npos);
}

TEST(Catalog, IsoAndKernelExcludeEachOther) {
  EXPECT_NE(refusal([] {
              parse_catalog(R"({"profiles":[{"name":"x","iso":"/a.iso","kernel":"/k","memory_mb":256,"cpus":1}]})");
            }).find("exclude"),
            std::string::npos);
  EXPECT_NE(refusal([] { parse_catalog(R"({"profiles":[{"name":"x","iso":"a.iso","memory_mb":256,"cpus":1}]})"); })
                .find("absolute"),
            std::string::npos);
}
