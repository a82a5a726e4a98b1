// What the console, the control socket and telemetry need from the control core.
#pragma once

#include "console/console.hpp"
#include "console/telemetry.hpp"
#include "control/controller.hpp"

namespace drfwd::console {

// The telemetry copy of the controller's state (services, real servers, totals).
TelemetryData telemetry_data(const control::Controller& c);

inline Handler handler_for(control::Controller& c) {
  return [&c](std::string_view line) {
    control::Reply r = c.execute(line);
    return Answer{r.ok, std::move(r.text)};
  };
}

}  // namespace drfwd::console
