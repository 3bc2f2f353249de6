// The soak check's positive control (scripts/soak.sh --leak-control): preloaded into
// rattn-server, every RATTN_LEAK_EVERY-th malloc (default 500) also takes RATTN_LEAK_BYTES
// (default 16 KiB) that are written and never freed, so the process leaks at a rate that
// follows its work, as a real per-request leak would. The soak's memory check must fail on it.
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

extern void* __libc_malloc(size_t size);

static size_t every = 0;
static size_t bytes = 0;
static size_t calls = 0;
static __thread int busy __attribute__((tls_model("initial-exec"))) = 0;

static void Configure(void) {
  const char* e = getenv("RATTN_LEAK_EVERY");
  const char* b = getenv("RATTN_LEAK_BYTES");
  every = e != NULL ? strtoul(e, NULL, 10) : 500;
  bytes = b != NULL ? strtoul(b, NULL, 10) : 16384;
  if (every == 0) every = 500;
}

void* malloc(size_t size) {
  if (!busy) {
    busy = 1;  // getenv and the leak below must not count themselves
    if (every == 0) Configure();
    if (__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED) % every == 0) {
      void* leaked = __libc_malloc(bytes);
      if (leaked != NULL) memset(leaked, 0xab, bytes);
    }
    busy = 0;
  }
  return __libc_malloc(size);
}
