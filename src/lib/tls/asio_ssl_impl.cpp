// asio_ssl_impl.cpp - the single translation unit that compiles Asio's ssl
// part (BOOST_ASIO_SEPARATE_COMPILATION, see aio/asio.h).
#include <utility>

#include <boost/asio/ssl/impl/src.hpp>
