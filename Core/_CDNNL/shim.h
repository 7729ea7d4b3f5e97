// oneDNN (Debian's libdnnl-dev, which ships no pkg-config file; its headers are in /usr/include).
// Used by the oneDNN convolution backend in Core/_CKernels/dnnl_conv.c.
#include <oneapi/dnnl/dnnl.h>
