#pragma once
// Schema migrations per backend. Version N is element N-1; append new steps, never edit old ones
// (a database records the versions it has applied in schema_migrations).
#include <string>
#include <vector>

namespace vmshare::store {

const std::vector<std::string>& sqlite_migrations();
const std::vector<std::string>& pg_migrations();

}  // namespace vmshare::store
