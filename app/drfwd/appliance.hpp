// A running drfwd: everything it owns, as members in the order they are made, so the
// reverse order (the destructor) tears down whatever was made, whichever way drfwd
// leaves — a failure at start, a failed worker, a normal stop. Only the end of a run
// (finish) adds the accounting, between stopping the workers and freeing them.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "console/console.hpp"
#include "console/ctlsock.hpp"
#include "console/http_server.hpp"
#include "console/operator.hpp"
#include "control/control_loop.hpp"
#include "control/director.hpp"
#include "control/kernel_state.hpp"
#include "control/publisher.hpp"
#include "control/slow_path.hpp"
#include "control/sync.hpp"
#include "dataplane/port.hpp"
#include "dataplane/worker.hpp"
#include "drfwd/options.hpp"

struct rte_mempool;

namespace drfwd::app {

// Exit statuses: 0 stopped cleanly, 1 failed, 2 bad command line (main), 3 ran and
// stopped but an mbuf or a connection entry was not accounted for at exit.
constexpr int kExitFailure = 1;
constexpr int kExitAccounting = 3;

class Appliance {
 public:
  // Builds and starts everything but the workers' loops. Throws std::exception with a
  // message for the operator; whatever was made is torn down on the way out. `reload`
  // (SIGHUP) asks for the configuration files to be read again.
  Appliance(const Options& opt, config::Model model, std::vector<dp::PortInfo> ports, std::vector<unsigned> lcores,
            std::atomic<bool>& stop, std::atomic<bool>& reload);
  ~Appliance();

  // Launches the workers and runs the control loop until `stop`; then stops the
  // workers and the ports, drains every ring and accounts for every mbuf and
  // connection entry. Returns the exit status.
  int run();

 private:
  struct PoolDeleter {
    void operator()(rte_mempool* p) const;
  };
  int finish(int rc);
  void add_pollers();
  // Reads the files given at start again and applies what changed (a file in error
  // changes nothing); tells systemd it is reloading, then ready again.
  void reload(double now);

  const Options& opt_;
  std::atomic<bool>& stop_;
  std::atomic<bool>& reload_;
  std::unique_ptr<rte_mempool, PoolDeleter> pool_;
  dp::PortSet ports_;
  std::unique_ptr<control::Publisher> publisher_;
  std::unique_ptr<dp::WorkerSet> workers_;
  std::unique_ptr<control::Director> director_;
  std::unique_ptr<control::SlowPath> slow_path_;
  std::unique_ptr<control::KernelState> kernel_;
  std::unique_ptr<control::SyncDaemon> sync_;
  std::unique_ptr<control::ControlLoop> loop_;
  std::unique_ptr<console::Operator> operator_;
  std::unique_ptr<console::ControlSocket> socket_;
  std::unique_ptr<console::HttpServer> metrics_;
  std::unique_ptr<console::Console> console_;
};

}  // namespace drfwd::app
