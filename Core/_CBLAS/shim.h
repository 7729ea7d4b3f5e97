// Debian's libopenblas-dev installs cblas.h under the openblas-pthread include folder;
// the package passes that folder with -I (see Package.swift), so plain includes work.
#include <cblas.h>
