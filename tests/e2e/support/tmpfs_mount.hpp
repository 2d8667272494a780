// TmpfsMount: a small tmpfs mounted on a fresh temporary directory for one
// test (mount(2) needs root: CI runs as root). The destructor always
// unmounts it (lazily if something still holds it open) and removes the
// directory, so a failed test leaves no mount behind. Declare it before the
// TokendProcess that uses it: the server then stops before the unmount.
//
// fill() writes a filler file until the file system answers ENOSPC, so the
// next byte anyone writes there fails; remove_filler() gives the space back.
//
// Thread-safety: none; use from one thread.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e {

class TmpfsMount {
 public:
  explicit TmpfsMount(std::size_t bytes) {
    char tmpl[] = "/tmp/tokend-tmpfs-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      ::rmdir(dir_.c_str());
      throw std::runtime_error("cannot mount a tmpfs on " + dir_ + " (root needed): " + why);
    }
  }
  ~TmpfsMount() {
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    ::rmdir(dir_.c_str());
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  const std::string& path() const { return dir_; }

  // Bytes still free for an unprivileged writer.
  std::size_t free_bytes() const {
    struct statvfs s{};
    if (::statvfs(dir_.c_str(), &s) != 0) return 0;
    return static_cast<std::size_t>(s.f_bavail) * s.f_frsize;
  }

  // Writes "filler" until ENOSPC, in ever smaller pieces so that no free
  // block is left; returns the bytes written. Throws on any other error.
  std::size_t fill() {
    const std::string file = dir_ + "/filler";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + file + ": " + std::strerror(errno));
    const std::vector<char> chunk(1 << 20, 'f');
    std::size_t total = 0;
    for (std::size_t piece : {std::size_t{1} << 20, std::size_t{1} << 16, std::size_t{4096}, std::size_t{1}}) {
      // Bounded: a tmpfs of the size this test mounts fills in a few thousand writes.
      for (int i = 0; i < 1 << 16; ++i) {
        const ssize_t n = ::write(fd, chunk.data(), piece);
        if (n > 0) {
          total += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && errno != ENOSPC) {
          const std::string why = std::strerror(errno);
          ::close(fd);
          throw std::runtime_error("filling " + file + ": " + why);
        }
        break;  // ENOSPC (or a short write of 0): try a smaller piece
      }
    }
    ::close(fd);
    return total;
  }

  // Remounts the file system read-only or read-write: 0, or the errno
  // (EBUSY for a read-only remount while a process has a file open for
  // writing: the kernel refuses it).
  int remount(bool read_only) {
    const unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) == 0 ? 0 : errno;
  }

  void remove_filler() {
    const std::string file = dir_ + "/filler";
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
      throw std::runtime_error("cannot remove " + file + ": " + std::strerror(errno));
    }
  }

 private:
  std::string dir_;
};

}  // namespace e2e
