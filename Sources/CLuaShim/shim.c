#include "smia_shim.h"
