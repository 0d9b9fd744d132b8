// lazy_openssl.cpp - OpenSSL loaded at the first call into it, not at exec.
//
// Why: smtpd, smtp and lmtp link OpenSSL for TLS, and the dynamic loader
// maps and relocates libssl and libcrypto at every exec whether TLS is
// configured or not. Relocating libcrypto writes about 110 of its pages, and
// a first write to a page is a copy-on-write fault: on the VMs Postern was
// measured on, those faults were the largest part of a bare smtpd start, and
// smtpd restarts every max_use (100) clients. So in this build the programs
// are not linked against OpenSSL. Each function Postern calls
// (openssl_functions.h) is defined here as a two-instruction trampoline that
// jumps through a pointer; until OpenSSL is loaded, every pointer leads to a
// resolver that dlopen()s libssl (which brings libcrypto), fills all the
// pointers at once, and continues into the function that was called, with
// its arguments untouched.
//
// When it happens: a daemon with TLS configured loads its keys and
// certificates before the privilege drop and the chroot, and that is its
// first OpenSSL call, so the libraries are found where the loader would have
// found them. A daemon without TLS never calls OpenSSL. Should a first call
// come after a chroot anyway, the load fails and the daemon exits with a
// fatal error that says so, rather than running on without TLS.
//
// Built on x86-64 Linux when POSTERN_LAZY_OPENSSL is on (the default there;
// the sanitizer and fuzz builds link OpenSSL directly, as do other
// architectures). The trampolines are hidden: libssl's own calls into
// libcrypto never come here.
//
// The pointers are what the GOT would hold, and a GOT is read-only after
// relocation (full RELRO), so that a stray or hostile write cannot redirect
// calls. The pointers live in a section of their own (postern_ossl_slots),
// page-aligned and padded to whole pages, and once the load has run, filled
// or not, those pages are made read-only: the slots are final either way.
#if defined(POSTERN_LAZY_OPENSSL)

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include <openssl/opensslv.h>

#include "base/dl_library.h"
#include "log/log.h"
#include "tls/lazy_openssl.h"
#include "tls/openssl_functions.h"

#if !defined(__x86_64__) || !defined(__ELF__)
#error "POSTERN_LAZY_OPENSSL needs x86-64 ELF; configure with -DPOSTERN_LAZY_OPENSSL=OFF"
#endif

#define POSTERN_STR2(x) #x
#define POSTERN_STR(x) POSTERN_STR2(x)

// The slots' section starts on a page of its own (the largest alignment in
// a section is the section's); the padding at its end follows the slots
// (top-level asm statements are emitted in order), and the section name is a
// C identifier, so that the linker defines __start_ and __stop_ for it.
asm(".section postern_ossl_slots,\"aw\",@progbits\n"
    ".p2align 12\n"
    ".text\n");

// For each function F: the global (hidden) trampoline F, its slot
// postern_ossl_slot_F (initially the address of postern_ossl_stub_F), and
// the stub, which passes the slot's address to the common resolver in %r11
// (a scratch register that no argument uses).
#define POSTERN_TRAMPOLINE(F)                                          \
  asm(".text\n"                                                        \
      ".globl " #F "\n"                                                \
      ".hidden " #F "\n"                                               \
      ".type " #F ", @function\n"                                      \
      ".p2align 4\n" #F ":\n"                                          \
      "  jmp *postern_ossl_slot_" #F "(%rip)\n"                        \
      ".size " #F ", .-" #F "\n"                                       \
      "postern_ossl_stub_" #F ":\n"                                    \
      "  leaq postern_ossl_slot_" #F "(%rip), %r11\n"                  \
      "  jmp postern_ossl_resolve\n"                                   \
      ".section postern_ossl_slots,\"aw\",@progbits\n"                \
      ".p2align 3\n"                                                   \
      ".globl postern_ossl_slot_" #F "\n"                              \
      ".hidden postern_ossl_slot_" #F "\n"                             \
      "postern_ossl_slot_" #F ":\n"                                    \
      "  .quad postern_ossl_stub_" #F "\n"                             \
      ".text\n");
POSTERN_OPENSSL_FUNCTIONS(POSTERN_TRAMPOLINE)

// Pads the section to a whole page, so that no other data shares its last
// page (which is about to become read-only).
asm(".section postern_ossl_slots,\"aw\",@progbits\n"
    ".p2align 12\n"
    ".text\n");
extern "C" __attribute__((visibility("hidden"))) void* __start_postern_ossl_slots[];
extern "C" __attribute__((visibility("hidden"))) void* __stop_postern_ossl_slots[];

// The resolver keeps every argument register (the integer ones, %rax for a
// variadic call's vector count, %xmm0-7), loads OpenSSL, and jumps to the
// function through the slot, now filled. On entry %rsp is 8 mod 16 (the
// caller's call pushed the return address); eight pushes keep it so, and
// 136 more bytes align it for the call.
asm(".text\n"
    ".p2align 4\n"
    "postern_ossl_resolve:\n"
    "  pushq %rdi\n  pushq %rsi\n  pushq %rdx\n  pushq %rcx\n"
    "  pushq %r8\n  pushq %r9\n  pushq %rax\n  pushq %r11\n"
    "  subq $136, %rsp\n"
    "  movdqu %xmm0, 0(%rsp)\n  movdqu %xmm1, 16(%rsp)\n"
    "  movdqu %xmm2, 32(%rsp)\n  movdqu %xmm3, 48(%rsp)\n"
    "  movdqu %xmm4, 64(%rsp)\n  movdqu %xmm5, 80(%rsp)\n"
    "  movdqu %xmm6, 96(%rsp)\n  movdqu %xmm7, 112(%rsp)\n"
    "  call postern_openssl_load\n"
    "  movdqu 0(%rsp), %xmm0\n  movdqu 16(%rsp), %xmm1\n"
    "  movdqu 32(%rsp), %xmm2\n  movdqu 48(%rsp), %xmm3\n"
    "  movdqu 64(%rsp), %xmm4\n  movdqu 80(%rsp), %xmm5\n"
    "  movdqu 96(%rsp), %xmm6\n  movdqu 112(%rsp), %xmm7\n"
    "  addq $136, %rsp\n"
    "  popq %r11\n  popq %rax\n  popq %r9\n  popq %r8\n"
    "  popq %rcx\n  popq %rdx\n  popq %rsi\n  popq %rdi\n"
    "  jmp *(%r11)\n");

#define POSTERN_SLOT_DECL(F) extern "C" __attribute__((visibility("hidden"))) void* postern_ossl_slot_##F;
POSTERN_OPENSSL_FUNCTIONS(POSTERN_SLOT_DECL)

namespace postern::tls {
namespace {

struct Slot {
  const char* name;
  void** slot;
};

#define POSTERN_SLOT_ENTRY(F) {#F, &postern_ossl_slot_##F},
constexpr Slot kSlots[] = {POSTERN_OPENSSL_FUNCTIONS(POSTERN_SLOT_ENTRY)};

std::once_flag g_once;
std::string g_error;  // set once, under g_once

// Makes the slots' pages read-only. The section's bounds are checked rather
// than trusted: were they not whole pages, another object's data would share
// one, and then the slots stay writable (and the unit test fails).
void protect_slots() {
  auto begin = reinterpret_cast<std::uintptr_t>(__start_postern_ossl_slots);
  auto end = reinterpret_cast<std::uintptr_t>(__stop_postern_ossl_slots);
  auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  if (begin % page != 0 || end % page != 0 || end <= begin) return;
  if (::mprotect(__start_postern_ossl_slots, end - begin, PROT_READ) != 0)
    postern::log::warning("cannot make the OpenSSL function table read-only: {}", std::strerror(errno));
}

void load_once() {
  std::call_once(g_once, [] {
    DlLibrary ssl("libssl.so." POSTERN_STR(OPENSSL_SHLIB_VERSION), "OpenSSL");
    // All or nothing: a slot is written only when every name resolved, so a
    // failed load leaves every function leading back here.
    void* found[std::size(kSlots)];
    for (std::size_t i = 0; i < std::size(kSlots); ++i) found[i] = ssl.symbol(kSlots[i].name);
    if (!ssl.error().empty()) {
      g_error = ssl.error();
    } else {
      for (std::size_t i = 0; i < std::size(kSlots); ++i)
        __atomic_store_n(kSlots[i].slot, found[i], __ATOMIC_RELEASE);
    }
    protect_slots();
  });
}

}  // namespace

Status load_openssl() {
  load_once();
  if (!g_error.empty()) return make_error("{}", g_error);
  return {};
}

std::span<void* const> openssl_function_slots() {
  return {__start_postern_ossl_slots, __stop_postern_ossl_slots};
}

}  // namespace postern::tls

// Called by the resolver. A process that reached here needs OpenSSL for the
// call it is making and cannot make it any other way.
extern "C" __attribute__((visibility("hidden"), used)) void postern_openssl_load() {
  if (auto s = postern::tls::load_openssl(); !s)
    postern::log::fatal("{} (OpenSSL is loaded when TLS is first used; a chroot must contain it)",
                        s.error().message);
}

#else  // !POSTERN_LAZY_OPENSSL: the programs link OpenSSL directly.

#include "tls/lazy_openssl.h"

namespace postern::tls {
Status load_openssl() { return {}; }
std::span<void* const> openssl_function_slots() { return {}; }
}  // namespace postern::tls

#endif
