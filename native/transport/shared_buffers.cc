#include "transport/shared_buffers.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "common/error.h"

namespace dtrain {

namespace {

struct Allocation {
  uint32_t id;
  int fd;
  uint8_t* base;
  size_t bytes;
};

// Every live allocation of this process, by address (the JS thread allocates; engine threads look up).
std::mutex& allocMu() {
  static std::mutex mu;
  return mu;
}
std::vector<Allocation>& allocations() {
  static std::vector<Allocation> all;
  return all;
}
uint32_t nextId = 1;

std::string nameFor(uint32_t id) { return "dtrain-buffer-" + std::to_string(id); }

int memfd(const std::string& name) {
#ifdef SYS_memfd_create
  return static_cast<int>(syscall(SYS_memfd_create, name.c_str(), 1u /* MFD_CLOEXEC */));
#else
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

void* sharedAlloc(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t len = std::max(page, (bytes + page - 1) / page * page);
  std::lock_guard<std::mutex> lock(allocMu());
  const uint32_t id = nextId++;
  // Close-on-exec: peers open it through /proc whatever the flag, and a child process must not
  // keep freed buffers alive.
  const int fd = memfd(nameFor(id));
  if (fd < 0) throwSystemError("memfd_create for dtrain.alloc");
  if (ftruncate(fd, static_cast<off_t>(len)) != 0) {
    const int e = errno;
    close(fd);
    errno = e;
    throwSystemError("ftruncate of dtrain.alloc's " + std::to_string(len) + " bytes");
  }
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    const int e = errno;
    close(fd);
    errno = e;
    throwSystemError("mmap of dtrain.alloc's " + std::to_string(len) + " bytes");
  }
  allocations().push_back({id, fd, static_cast<uint8_t*>(mem), len});
  return mem;
}

void sharedFree(void* base) {
  std::lock_guard<std::mutex> lock(allocMu());
  auto& all = allocations();
  auto it = std::find_if(all.begin(), all.end(), [&](const Allocation& a) { return a.base == base; });
  if (it == all.end()) return;
  munmap(it->base, it->bytes);
  close(it->fd);
  all.erase(it);
}

bool sharedFind(const void* p, size_t bytes, SharedRef* ref) {
  const uint8_t* q = static_cast<const uint8_t*>(p);
  std::lock_guard<std::mutex> lock(allocMu());
  for (const Allocation& a : allocations()) {
    if (q >= a.base && q + bytes <= a.base + a.bytes) {
      *ref = {a.id, a.fd, static_cast<uint64_t>(q - a.base)};
      return true;
    }
  }
  return false;
}

PeerBuffers::~PeerBuffers() {
  for (const Mapping& m : maps_) munmap(m.base, m.bytes);
}

const uint8_t* PeerBuffers::map(int rank, pid_t pid, const SharedRef& ref, size_t bytes,
                                std::string* why) {
  ++clock_;
  for (Mapping& m : maps_) {
    if (m.rank == rank && m.id == ref.id) {
      if (ref.offset + bytes > m.bytes) break;  // cannot be: allocations never grow
      m.used = clock_;
      return m.base + ref.offset;
    }
  }
  // The descriptor may name a file descriptor the owner has since closed and reused: the
  // name the memfd was created with says which allocation it is.
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(ref.fd);
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *why = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  char link[128] = {0};
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(self.c_str(), link, sizeof(link) - 1);
  const std::string want = "/memfd:" + nameFor(ref.id) + " ";
  struct stat st {};
  if (n <= 0 || std::string(link, static_cast<size_t>(n)).rfind(want, 0) != 0 || fstat(fd, &st) != 0 ||
      static_cast<uint64_t>(st.st_size) < ref.offset + bytes) {
    close(fd);
    *why = path + " is not rank " + std::to_string(rank) + "'s shared array " + std::to_string(ref.id);
    return nullptr;
  }
  void* mem = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (mem == MAP_FAILED) {
    *why = std::string("mmap of a peer's shared array: ") + std::strerror(errno);
    return nullptr;
  }
  if (maps_.size() >= cap_) {
    auto oldest = std::min_element(maps_.begin(), maps_.end(),
                                   [](const Mapping& a, const Mapping& b) { return a.used < b.used; });
    munmap(oldest->base, oldest->bytes);
    maps_.erase(oldest);
  }
  maps_.push_back({rank, ref.id, static_cast<uint8_t*>(mem), static_cast<size_t>(st.st_size), clock_});
  return static_cast<uint8_t*>(mem) + ref.offset;
}

}  // namespace dtrain
