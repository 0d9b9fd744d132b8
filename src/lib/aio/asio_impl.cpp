// asio_impl.cpp - the single translation unit that compiles Asio itself.
#include <utility>

#include <boost/asio/impl/src.hpp>
