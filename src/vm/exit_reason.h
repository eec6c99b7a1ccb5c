#pragma once
// Why a VM ended, for logs and metrics (vmshare_vm_exits_total{reason}). Its own header so the
// pure state machine (vm_state_machine.h) can name reasons without the manager's Boost types.

namespace vmshare::vm {

enum class ExitReason { guest_poweroff, stopped, no_viewer, session_limit, logout, crashed, killed };
const char* exit_reason_name(ExitReason reason);  // defined in vm_manager.cpp

}  // namespace vmshare::vm
