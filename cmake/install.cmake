# `cmake --install` and the Debian package (`cpack -G DEB`): only the server
# and its files, never the test binaries. docs/operations.md, "Installing".
#
#   <prefix>/bin/tokend
#   <prefix>/share/tokend/web/                  the web page (found from the binary: src/config/config.cpp)
#   <prefix>/lib/systemd/system/tokend.service  ExecStart with this prefix (cmake/install_service_files.cmake)
#   <sysconf>/tokend/config.json                the service's configuration, never overwritten
#   <prefix>/share/doc/tokend/examples/example.json   every setting with its default

install(TARGETS tokend RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tokend/web
        FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${CMAKE_SOURCE_DIR}/config/example.json DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "set(TOKEND_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
set(TOKEND_BINARY_DIR \"${CMAKE_BINARY_DIR}\")
set(TOKEND_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_service_files.cmake)

# CPack, Debian package. The package installs under /usr, the configuration
# under /etc (a conffile: dpkg keeps the administrator's changes on upgrade).
set(CPACK_PACKAGE_NAME tokend)
set(CPACK_PACKAGE_VENDOR "tokend")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "standalone HTTP server that issues API access tokens")
set(CPACK_PACKAGE_DESCRIPTION "tokend issues API access tokens to people in a browser, to scripts and to
services that validate them: local passwords, LDAP, GitHub, GitLab and OpenID Connect sign-in, an
embedded SQLite database, and a systemd service (Type=notify) that starts disabled.")
set(CPACK_PACKAGE_CONTACT "tokend maintainers <tokend@example.org>")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
# The install script sees the real prefix (/usr) and writes under the
# staging folder through DESTDIR, so the unit's ExecStart says /usr/bin.
set(CPACK_SET_DESTDIR ON)
# Depends on the shared libraries' packages, computed by dpkg-shlibdeps
# (dpkg-dev), plus what the maintainer scripts run.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: the postinst. procps: /bin/kill, the unit's ExecReload.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
# The symbol table is of no use to an operator: 5.5 MB becomes about 4.
set(CPACK_STRIP_FILES TRUE)
set(CPACK_GENERATOR DEB)
# cpack installs what is built and builds nothing: the package of a tested
# build is that build (and the package test does not rebuild the project).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
include(CPack)
