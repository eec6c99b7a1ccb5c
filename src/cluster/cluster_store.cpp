#include "cluster/cluster_store.h"

#include <pqxx/pqxx>

namespace vmshare::cluster {

using store::DbOp;

namespace {

constexpr const char* kVmColumns = "vmid, user_id, node, state, os_type, source, memory_mb, started_at, expires_at";

VmRow read_vm(const pqxx::row& r) {
  VmRow v;
  v.vmid = r[0].as<std::string>();
  v.user_id = r[1].as<std::int64_t>();
  v.node = r[2].as<std::string>();
  v.state = r[3].as<std::string>();
  v.os_type = r[4].as<std::string>();
  v.source = r[5].as<std::string>();
  v.memory_mb = r[6].as<std::int64_t>();
  v.started_at = r[7].as<std::int64_t>();
  v.expires_at = r[8].as<std::int64_t>();
  return v;
}

std::optional<VmRow> first_vm(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_vm(res[0]);
}

std::string select_vms(const std::string& where) {
  return std::string("SELECT ") + kVmColumns + " FROM vms WHERE " + where;
}

}  // namespace

ClusterStore::ClusterStore(const std::string& database_url, std::size_t pool_size) : pool_(database_url, pool_size) {}

bool ClusterStore::heartbeat(const std::string& id, const std::string& url, int max_vms, std::int64_t memory_mb) {
  return pool_.run(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto before = tx.exec_params("SELECT dead FROM nodes WHERE id = $1 FOR UPDATE", id);
    const bool was_dead = !before.empty() && before[0][0].as<bool>();
    tx.exec_params(
        "INSERT INTO nodes (id, internal_url, max_vms, memory_mb) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (id) DO UPDATE SET internal_url = $2, max_vms = $3, memory_mb = $4, heartbeat_at = now(), dead = false",
        id, url, max_vms, memory_mb);
    tx.commit();
    return was_dead;
  });
}

std::vector<VmRow> ClusterStore::sweep_dead(int dead_after_s) {
  return pool_.run(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // One statement: of several nodes sweeping at once, exactly one marks each node and its VMs.
    auto res = tx.exec_params(
        std::string("WITH dead AS (UPDATE nodes SET dead = true WHERE NOT dead AND "
                    "heartbeat_at < now() - make_interval(secs => $1) RETURNING id) "
                    "UPDATE vms SET state = 'lost' WHERE state = 'running' AND node IN (SELECT id FROM dead) RETURNING ") +
            kVmColumns,
        dead_after_s);
    tx.commit();
    std::vector<VmRow> out;
    for (const auto& r : res) out.push_back(read_vm(r));
    return out;
  });
}

std::vector<NodeRow> ClusterStore::nodes(int dead_after_s) {
  return pool_.run(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto res = tx.exec_params(
        "SELECT n.id, n.internal_url, n.max_vms, n.memory_mb, n.draining, n.dead, "
        "EXTRACT(EPOCH FROM now() - n.heartbeat_at)::bigint, count(v.vmid), COALESCE(sum(v.memory_mb), 0)::bigint "
        "FROM nodes n LEFT JOIN vms v ON v.node = n.id AND v.state = 'running' GROUP BY n.id ORDER BY n.id");
    std::vector<NodeRow> out;
    for (const auto& r : res) {
      NodeRow n;
      n.state.id = r[0].as<std::string>();
      n.state.internal_url = r[1].as<std::string>();
      n.state.max_vms = r[2].as<int>();
      n.state.memory_mb = r[3].as<std::int64_t>();
      n.state.draining = r[4].as<bool>();
      n.dead = r[5].as<bool>();
      n.heartbeat_age_s = r[6].as<std::int64_t>();
      n.state.running_vms = r[7].as<int>();
      n.state.used_memory_mb = r[8].as<std::int64_t>();
      n.state.alive = !n.dead && n.heartbeat_age_s < dead_after_s;
      out.push_back(std::move(n));
    }
    return out;
  });
}

bool ClusterStore::set_draining(const std::string& id, bool draining) {
  return pool_.run(DbOp::update, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params("UPDATE nodes SET draining = $2 WHERE id = $1", id, draining);
    tx.commit();
    return res.affected_rows() == 1;
  });
}

bool ClusterStore::forget(const std::string& id, int dead_after_s) {
  return pool_.run(DbOp::delete_, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto res = tx.exec_params(
        "DELETE FROM nodes WHERE id = $1 AND (dead OR heartbeat_at < now() - make_interval(secs => $2))", id,
        dead_after_s);
    if (res.affected_rows() != 1) return false;
    tx.exec_params("DELETE FROM vms WHERE node = $1 AND state = 'lost'", id);
    tx.exec_params("DELETE FROM node_isos WHERE node = $1", id);
    tx.commit();
    return true;
  });
}

void ClusterStore::claim(const VmRow& row) {
  pool_.run(DbOp::insert, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("DELETE FROM vms WHERE user_id = $1 AND state = 'lost'", row.user_id);
    // ON CONFLICT DO NOTHING with the partial index as arbiter: of two nodes inserting for one
    // user at once, the second waits for the first's commit and then inserts nothing.
    auto res = tx.exec_params(
        "INSERT INTO vms (vmid, user_id, node, state, os_type, source, memory_mb, started_at, expires_at) "
        "VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8) ON CONFLICT (user_id) WHERE state = 'running' DO NOTHING",
        row.vmid, row.user_id, row.node, row.os_type, row.source, row.memory_mb, row.started_at, row.expires_at);
    if (res.affected_rows() == 1) return tx.commit();
    auto holder = first_vm(tx.exec_params(select_vms("user_id = $1 AND state = 'running'"), row.user_id));
    tx.commit();
    if (!holder) throw std::runtime_error("the user's VM claim vanished; try again");
    throw AlreadyRunning(*holder);
  });
}

void ClusterStore::release(const std::string& vmid, const std::string& node) {
  pool_.run(DbOp::delete_, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("DELETE FROM vms WHERE vmid = $1 AND node = $2 AND state = 'running'", vmid, node);
    tx.commit();
  });
}

std::optional<VmRow> ClusterStore::running_vm_of_user(std::int64_t user_id) {
  return pool_.run(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first_vm(tx.exec_params(select_vms("user_id = $1 AND state = 'running'"), user_id));
  });
}

std::optional<VmRow> ClusterStore::latest_vm_of_user(std::int64_t user_id) {
  return pool_.run(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first_vm(tx.exec_params(
        select_vms("user_id = $1 ORDER BY (state = 'running') DESC, started_at DESC LIMIT 1"), user_id));
  });
}

std::optional<VmRow> ClusterStore::find(const std::string& vmid) {
  return pool_.run(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return first_vm(tx.exec_params(select_vms("vmid = $1"), vmid));
  });
}

std::vector<VmRow> ClusterStore::vms_of_node(const std::string& node) {
  return pool_.run(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    std::vector<VmRow> out;
    for (const auto& r : tx.exec_params(select_vms("node = $1"), node)) out.push_back(read_vm(r));
    return out;
  });
}

void ClusterStore::drop_rows(const std::vector<std::string>& vmids, const std::string& node) {
  if (vmids.empty()) return;
  pool_.run(DbOp::delete_, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    for (const auto& vmid : vmids)
      tx.exec_params("DELETE FROM vms WHERE vmid = $1 AND node = $2 AND state = 'running'", vmid, node);
    tx.commit();
  });
}

void ClusterStore::set_iso_node(std::int64_t user_id, const std::string& node) {
  pool_.run(DbOp::insert, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO node_isos (user_id, node) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET node = $2",
                   user_id, node);
    tx.commit();
  });
}

std::optional<std::string> ClusterStore::iso_node(std::int64_t user_id) {
  return pool_.run(DbOp::select, [&](pqxx::connection& c) -> std::optional<std::string> {
    pqxx::read_transaction tx(c);
    auto res = tx.exec_params("SELECT node FROM node_isos WHERE user_id = $1", user_id);
    if (res.empty()) return std::nullopt;
    return res[0][0].as<std::string>();
  });
}

ClusterStore::Totals ClusterStore::totals(int dead_after_s) {
  Totals t;
  for (const auto& n : nodes(dead_after_s)) {
    if (n.state.alive) {
      ++t.nodes_alive;
      if (t.first_alive.empty()) t.first_alive = n.state.id;  // nodes() is ordered by id
    } else {
      ++t.nodes_dead;
    }
    if (n.state.draining) ++t.nodes_draining;
    t.running += n.state.running_vms;
  }
  pool_.run(DbOp::select, [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    t.lost = tx.exec1("SELECT count(*) FROM vms WHERE state = 'lost'")[0].as<std::int64_t>();
  });
  return t;
}

}  // namespace vmshare::cluster
