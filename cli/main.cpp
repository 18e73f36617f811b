#include "cli/app.hpp"

int main(int argc, char** argv) { return xops::cli::run(argc, argv); }
