// Ext4LoopMount: a small ext4 file system in an image file, attached to a
// loop device and mounted with errors=remount-ro on a fresh temporary
// directory for one test (losetup, mount(2) and the sysfs trigger need root:
// CI runs as root; mkfs.ext4 and e2fsck come from e2fsprogs, losetup from
// mount). The destructor always unmounts it (lazily if something still holds
// it open), detaches the loop device and removes the image and directories,
// so a failed test leaves nothing behind. Declare it before the
// TokendProcess that uses it: the server then stops before the unmount.
//
// trigger_error() makes the kernel record a file system error, as it does on
// a failed metadata write or a corrupt block; with errors=remount-ro it then
// turns the file system read-only under the processes using it ("emergency
// read-only"): every later write fails with EROFS, reads go on. The kernel
// refuses to make it writable again by a remount; repair() does what an
// operator must: unmount, e2fsck, mount again.
//
// Thread-safety: none; use from one thread.
#pragma once

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace e2e {

class Ext4LoopMount {
 public:
  explicit Ext4LoopMount(std::size_t bytes) {
    char tmpl[] = "/tmp/tokend-ext4-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    base_ = tmpl;
    image_ = base_ + "/fs.img";
    dir_ = base_ + "/mnt";
    try {
      if (::mkdir(dir_.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + dir_ + ": " + std::strerror(errno));
      {
        std::ofstream create(image_);
      }
      if (::truncate(image_.c_str(), static_cast<off_t>(bytes)) != 0) {
        throw std::runtime_error("cannot size " + image_ + ": " + std::strerror(errno));
      }
      run_or_throw({"/sbin/mkfs.ext4", "-q", "-F", image_});
      ProcessResult lo = run_or_throw({"/sbin/losetup", "--find", "--show", image_});
      device_ = lo.output.substr(0, lo.output.find('\n'));
      if (device_.rfind("/dev/loop", 0) != 0) throw std::runtime_error("losetup answered: " + lo.output);
      mount_or_throw();
    } catch (...) {
      cleanup();
      throw;
    }
  }
  ~Ext4LoopMount() { cleanup(); }
  Ext4LoopMount(const Ext4LoopMount&) = delete;
  Ext4LoopMount& operator=(const Ext4LoopMount&) = delete;

  const std::string& path() const { return dir_; }

  // Makes the kernel record an error on this file system (ext4's debugging
  // trigger in sysfs), which with errors=remount-ro turns it read-only.
  void trigger_error() {
    const std::string knob = "/sys/fs/ext4/" + device_.substr(device_.rfind('/') + 1) + "/trigger_fs_error";
    std::ofstream f(knob);
    f << "tokend e2e test\n";
    f.flush();
    if (!f) throw std::runtime_error("cannot write " + knob);
  }

  // Creates and removes a probe file in it: 0, or the errno of the first
  // failure (EROFS once the kernel turned the file system read-only).
  int try_write() const {
    const std::string probe = dir_ + "/probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno;
    int err = 0;
    if (::write(fd, "x", 1) != 1 || ::fsync(fd) != 0) err = errno;
    ::close(fd);
    if (::unlink(probe.c_str()) != 0 && err == 0) err = errno;
    return err;
  }

  // `mount -o remount,ro`: 0, or the errno the kernel refuses it with
  // (EBUSY while a process has a file open for writing there).
  int remount_ro() {
    const unsigned long flags = MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
    return ::mount(device_.c_str(), dir_.c_str(), "ext4", flags, "errors=remount-ro") == 0 ? 0 : errno;
  }

  // The mount options the kernel shows for it (/proc/self/mountinfo's
  // per-superblock options: "rw,emergency_ro,errors=remount-ro,..." once it
  // turned read-only after an error).
  std::string super_options() const {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string f;
      std::string mount_point;
      for (int i = 0; i < 5 && fields >> f; ++i) mount_point = f;
      if (mount_point != dir_) continue;
      const auto sep = line.find(" - ");
      if (sep == std::string::npos) return {};
      std::istringstream rest(line.substr(sep + 3));
      std::string type, source, options;
      rest >> type >> source >> options;
      return options;
    }
    return {};
  }

  // `mount -o remount,rw` as mount(2): 0, or the errno the kernel refuses
  // it with. A 0 does not mean the file system is writable: see try_write().
  int remount_rw() {
    const unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV;
    return ::mount(device_.c_str(), dir_.c_str(), "ext4", flags, "errors=remount-ro") == 0 ? 0 : errno;
  }

  // What an operator does: unmount, `e2fsck -fy` (REQUIREs that it fixed
  // everything: exit code 0 or 1), mount read-write again. The e2fsck output
  // is returned for the test's log.
  std::string repair() {
    if (mounted_) {
      if (::umount2(dir_.c_str(), 0) != 0) throw std::runtime_error("umount " + dir_ + ": " + std::strerror(errno));
      mounted_ = false;
    }
    // On the loop device rather than the image: the device's own cache then
    // sees what e2fsck wrote.
    ProcessResult r = run_process({"/sbin/e2fsck", "-fy", device_});
    if (r.exit_code < 0 || r.exit_code > 1) {
      throw std::runtime_error("e2fsck exited with " + std::to_string(r.exit_code) + ":\n" + r.output);
    }
    mount_or_throw();
    return r.output;
  }

 private:
  static ProcessResult run_or_throw(const std::vector<std::string>& argv) {
    ProcessResult r = run_process(argv);
    if (r.exit_code != 0) {
      throw std::runtime_error(argv.front() + " exited with " + std::to_string(r.exit_code) + ": " + r.output);
    }
    return r;
  }

  void mount_or_throw() {
    if (::mount(device_.c_str(), dir_.c_str(), "ext4", MS_NOSUID | MS_NODEV, "errors=remount-ro") != 0) {
      throw std::runtime_error("cannot mount " + device_ + " on " + dir_ + " (root needed): " + std::strerror(errno));
    }
    mounted_ = true;
  }

  void cleanup() {
    if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    mounted_ = false;
    if (!device_.empty()) {
      // On a device still in use (a lazy unmount above), LOOP_CLR_FD marks
      // it to detach itself once the last user is gone.
      if (const int fd = ::open(device_.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
        (void)::ioctl(fd, LOOP_CLR_FD, 0);
        ::close(fd);
      }
      device_.clear();
    }
    ::unlink(image_.c_str());
    ::rmdir(dir_.c_str());
    ::rmdir(base_.c_str());
  }

  std::string base_;
  std::string image_;
  std::string dir_;
  std::string device_;
  bool mounted_ = false;
};

}  // namespace e2e
