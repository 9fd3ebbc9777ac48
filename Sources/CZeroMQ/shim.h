// libzmq's C API (Debian: libzmq3-dev). No pkgConfig: its .pc adds a flag SwiftPM rejects, and zmq.h is on the default path.
#include <zmq.h>
