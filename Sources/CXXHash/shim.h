#ifndef CXXHASH_SHIM_H
#define CXXHASH_SHIM_H
/* Only XXH3-128, the old-data archive manifest's per-file checksum, through its streaming
 * state (opaque here: XXH_STATIC_LINKING_ONLY is not defined, so the state is the library's). */
#include <xxhash.h>
#endif
