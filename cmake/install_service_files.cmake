# Run by `cmake --install` (install(SCRIPT) in CMakeLists.txt), and by CPack
# while it stages the Debian package: installs the systemd unit and the
# service's configuration with the paths of the prefix chosen at install
# time (`--prefix`), which the configure step cannot know.
#
# Set before this script runs (install(CODE)): TOKEND_SOURCE_DIR,
# TOKEND_BINARY_DIR, TOKEND_BINDIR (relative, e.g. "bin").
#
# Where the configuration goes, as GNUInstallDirs puts sysconfdir: /etc for
# the prefix /usr (the package), <prefix>/etc otherwise (/usr/local/etc).
#
# An existing configuration is never overwritten: `cmake --install` over a
# running installation keeps the operator's settings (the package instead
# declares /etc/tokend/config.json a conffile, and dpkg keeps local changes).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/usr/")
  set(_sysconf "/etc")
  set(_prefix "/usr")
else()
  string(REGEX REPLACE "/$" "" _prefix "${CMAKE_INSTALL_PREFIX}")
  set(_sysconf "${_prefix}/etc")
endif()
set(TOKEND_UNIT_BINARY "${_prefix}/${TOKEND_BINDIR}/tokend")
set(TOKEND_UNIT_CONFIG "${_sysconf}/tokend/config.json")

# One staged copy per destination: two installs at once (the install and
# package tests run in parallel) must not write the same file.
string(MD5 _key "$ENV{DESTDIR}|${_prefix}")
set(_staged "${TOKEND_BINARY_DIR}/packaging/tokend.service.${_key}")
configure_file("${TOKEND_SOURCE_DIR}/packaging/systemd/tokend.service.in" "${_staged}" @ONLY)
# lib/systemd/system under the prefix: /usr/lib/systemd/system for the
# package, /usr/local/lib/systemd/system for /usr/local; both are on
# systemd's unit search path.
file(INSTALL "${_staged}" DESTINATION "${_prefix}/lib/systemd/system" RENAME tokend.service
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

if(EXISTS "$ENV{DESTDIR}${TOKEND_UNIT_CONFIG}")
  message(STATUS "Keeping: $ENV{DESTDIR}${TOKEND_UNIT_CONFIG} (exists already)")
else()
  # 0640: it may hold an LDAP bind password or client secrets. The package's
  # postinst gives it the group tokend (dpkg-statoverride).
  file(INSTALL "${TOKEND_SOURCE_DIR}/packaging/config.json" DESTINATION "${_sysconf}/tokend"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
endif()
