#pragma once
// `vmshare node list|drain|undrain|forget`: the operator's view of the shared nodes table.
// Needs DATABASE_URL (PostgreSQL); works from any host that reaches it, node or not.
#include <iosfwd>
#include <string>

#include "core/config.h"

namespace vmshare::cluster {

int admin_node_list(const Config& config, std::ostream& out);
// A drained node takes no new VM; those it runs finish as usual.
int admin_node_drain(const Config& config, const std::string& node, bool draining);
// Removes a dead node's row (and its lost VMs) once it will not come back.
int admin_node_forget(const Config& config, const std::string& node);

}  // namespace vmshare::cluster
