#include "vm/catalog.h"

#include <gtest/gtest.h>

#include "test_util.h"

using namespace vmshare::vm;

namespace {

std::string one(const std::string& fields) {
  return R"({"profiles":[{"name":"tiny","title":"Tiny Linux","base_image":"/abs/tiny.qcow2",)"
         R"("memory_mb":256,"cpus":1)" +
         fields + "}]}";
}

void expect_error(const std::string& text, const std::string& needle1, const std::string& needle2) {
  try {
    parse_catalog(text);
    FAIL() << "no CatalogError for " << text;
  } catch (const CatalogError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(needle1), std::string::npos) << m;
    EXPECT_NE(m.find(needle2), std::string::npos) << m;
  }
}

}  // namespace

TEST(Catalog, ParsesProfilesWithDefaults) {
  auto c = parse_catalog(R"({"profiles":[
    {"name":"tiny","title":"Tiny Linux","base_image":"/abs/tiny.qcow2","memory_mb":256,"cpus":1},
    {"name":"debian-12","base_image":"/img/d.qcow2","memory_mb":2048,"cpus":2,"kind":"linux",
     "kernel":"/k/vmlinuz","initrd":"/k/initrd","append":"console=ttyS0","description":"Debian",
     "future_field":{"x":1}}
  ],"other":1})");
  ASSERT_EQ(c.profiles().size(), 2u);
  const Profile* t = c.find("tiny");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->title, "Tiny Linux");
  EXPECT_EQ(t->base_image, "/abs/tiny.qcow2");
  EXPECT_EQ(t->memory_mb, 256);
  EXPECT_EQ(t->cpus, 1);
  EXPECT_EQ(t->kind, "linux");
  EXPECT_TRUE(t->kernel.empty());
  EXPECT_TRUE(t->description.empty());
  const Profile* d = c.find("debian-12");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->title, "debian-12");  // defaults to the name
  EXPECT_EQ(d->kernel, "/k/vmlinuz");
  EXPECT_EQ(d->initrd, "/k/initrd");
  EXPECT_EQ(d->append, "console=ttyS0");
  EXPECT_EQ(d->description, "Debian");
  EXPECT_EQ(c.find("nope"), nullptr);
  EXPECT_EQ(c.profiles()[1].name, "debian-12");  // file order kept
}

TEST(Catalog, EmptyProfileListIsValid) { EXPECT_TRUE(parse_catalog(R"({"profiles":[]})").empty()); }

TEST(Catalog, RejectsBadDocuments) {
  expect_error("not json", "invalid JSON", "catalog");
  expect_error("[]", "top level", "object");
  expect_error(R"({"profiles":{}})", "profiles", "array");
  expect_error(R"({"profiles":[1]})", "profile #0", "object");
}

TEST(Catalog, RejectsBadNames) {
  expect_error(R"({"profiles":[{"base_image":"/a","memory_mb":256,"cpus":1}]})", "profile #0", "\"name\"");
  expect_error(R"({"profiles":[{"name":"Tiny","base_image":"/a","memory_mb":256,"cpus":1}]})", "#0", "name");
  expect_error(R"({"profiles":[{"name":"a b","base_image":"/a","memory_mb":256,"cpus":1}]})", "#0", "name");
  expect_error(R"({"profiles":[{"name":")" + std::string(33, 'a') +
                   R"(","base_image":"/a","memory_mb":256,"cpus":1}]})",
               "#0", "name");
  expect_error(R"({"profiles":[{"name":"custom","base_image":"/a","memory_mb":256,"cpus":1}]})",
               "\"custom\"", "reserved");
  expect_error(R"({"profiles":[{"name":"a","base_image":"/a","memory_mb":256,"cpus":1},
                               {"name":"a","base_image":"/b","memory_mb":256,"cpus":1}]})",
               "\"a\"", "twice");
  expect_error(R"({"profiles":[{"name":5,"base_image":"/a","memory_mb":256,"cpus":1}]})", "#0", "string");
}

TEST(Catalog, RejectsBadFieldsNamingProfileAndField) {
  expect_error(R"({"profiles":[{"name":"tiny","memory_mb":256,"cpus":1}]})", "\"tiny\"", "\"base_image\"");
  expect_error(R"({"profiles":[{"name":"tiny","base_image":"rel/x.qcow2","memory_mb":256,"cpus":1}]})",
               "\"tiny\"", "absolute");
  expect_error(one("").replace(one("").find("256"), 3, "63"), "\"memory_mb\"", "between 64 and 65536");
  expect_error(one("").replace(one("").find("256"), 3, "65537"), "\"tiny\"", "memory_mb");
  expect_error(one("").replace(one("").find("256"), 3, "\"256\""), "memory_mb", "integer");
  expect_error(one("").replace(one("").find("256"), 3, "256.5"), "memory_mb", "integer");
  expect_error(one("").replace(one("").find("\"cpus\":1"), 8, "\"cpus\":0"), "\"cpus\"", "between 1 and 64");
  expect_error(one("").replace(one("").find("\"cpus\":1"), 8, "\"cpus\":65"), "\"tiny\"", "cpus");
  expect_error(one(R"(,"title":7)"), "\"tiny\"", "\"title\"");
  expect_error(one(R"(,"kernel":"vmlinuz")"), "\"kernel\"", "absolute");
  expect_error(one(R"(,"initrd":"/i")"), "\"initrd\"", "kernel");
  expect_error(one(R"(,"append":"quiet")"), "\"append\"", "kernel");
}

TEST(Catalog, BoundaryValuesAccepted) {
  auto c = parse_catalog(R"({"profiles":[
    {"name":"lo","base_image":"/a","memory_mb":64,"cpus":1},
    {"name":"hi","base_image":"/a","memory_mb":65536,"cpus":64},
    {"name":")" + std::string(32, 'z') + R"(","base_image":"/a","memory_mb":64,"cpus":1,"title":null}]})");
  EXPECT_EQ(c.profiles().size(), 3u);
}

TEST(Catalog, LoadsFromFile) {
  test::TempDir dir;
  test::write_file(dir / "catalog.json", one(""));
  EXPECT_NE(load_catalog(dir / "catalog.json").find("tiny"), nullptr);
  try {
    load_catalog(dir / "missing.json");
    FAIL();
  } catch (const CatalogError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos);
  }
}
