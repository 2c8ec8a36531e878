<?php
/**
 * Plugin Name: Larder Object Cache
 * Description: Persistent object cache for WordPress on Larder or any memcached server, through the PHP Memcached extension.
 * Version:     1.1.0
 * Requires PHP: 7.4
 * Requires at least: 6.1
 * License:     GPL-2.0-or-later
 *
 * Copy this file to wp-content/object-cache.php.  See README.md beside it.
 *
 * The idea.  Every cache call first looks in a per-request array (the
 * "runtime cache"), and only goes to the server when the runtime cache does
 * not have the answer.  Values go to the server through the Memcached
 * extension, which keeps PHP types (false, 0, '', null, arrays, objects) in
 * the item flags; a miss is told apart from a stored false by the result code,
 * never by the value.
 *
 * Server keys look like  <salt><epoch>:<group>:<group version>:<blog:>key.
 * The epoch and the group versions live in one small item, the "map"
 * (<salt>larder:map), read once per request.  wp_cache_flush() starts a new
 * epoch and wp_cache_flush_group() gives one group a new version; the old
 * items are then unreachable and age out of the server's LRU, so no
 * server-side group delete and no flush_all are needed, and other sites on
 * the same server keep their items.  If the map is ever evicted, a new epoch
 * is drawn: losing the map costs a cold cache, never stale data.
 *
 * Keys longer than 250 bytes or holding bytes outside printable ASCII are
 * replaced by a hash of the whole key, so no key can break the text protocol.
 *
 * Coherence.  What WordPress writes while this file is absent, disabled
 * (LARDER_DISABLED) or cut off from its server goes to the database only, so
 * the items on the server may be stale afterwards.  The database therefore
 * holds the "database epoch" (option larder_cache_epoch, read with one query
 * per request) and the map records the database epoch its items were
 * written under.  Whatever runs without this cache replaces the database
 * epoch by a "gap:" value: this file itself when disabled or offline, and a
 * small must-use plugin it writes (mu-plugins/larder-cache-guard.php) when
 * the file has been removed or replaced.  A map whose database epoch is not
 * the current one is thrown away: a new epoch, a cold cache, never stale data.
 *
 * Failure.  Timeouts are short, a failing server is ejected from the ketama
 * ring, and after a few connection errors a server group ("bucket") is set
 * aside; it is tried again after a back-off that grows from 1 s to 30 s.
 * When the extension is missing or no server answers, the cache works on the
 * runtime array alone and logs one line with error_log(), at most once a
 * minute across all requests.
 */

defined( 'LARDER_OBJECT_CACHE' ) || define( 'LARDER_OBJECT_CACHE', '1.1.0' );

/*
 * The WordPress object-cache API: thin wrappers over $wp_object_cache,
 * with the signatures of wp-includes/cache.php (WordPress 6.1).
 */

function wp_cache_init() {
	$GLOBALS['wp_object_cache'] = new WP_Object_Cache();
	if ( $GLOBALS['wp_object_cache']->is_disabled() ) {
		// Kill switch: WordPress keeps transients in the database, as with no drop-in.
		if ( function_exists( 'wp_using_ext_object_cache' ) ) {
			wp_using_ext_object_cache( false );
		}
	} elseif ( ! defined( 'LARDER_OBJECT_CACHE_ACTIVE' ) ) {
		define( 'LARDER_OBJECT_CACHE_ACTIVE', true ); // Read by the guard mu-plugin.
	}
}

/** The cache's name, for tools that ask (WP-CLI's `wp cache type`, the companion plugin). */
function wp_cache_get_type() {
	return 'Larder';
}

function wp_cache_add( $key, $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->add( $key, $data, $group, (int) $expire );
}

function wp_cache_add_multiple( array $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->add_multiple( $data, $group, (int) $expire );
}

function wp_cache_replace( $key, $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->replace( $key, $data, $group, (int) $expire );
}

function wp_cache_set( $key, $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->set( $key, $data, $group, (int) $expire );
}

function wp_cache_set_multiple( array $data, $group = '', $expire = 0 ) {
	global $wp_object_cache;
	return $wp_object_cache->set_multiple( $data, $group, (int) $expire );
}

function wp_cache_get( $key, $group = '', $force = false, &$found = null ) {
	global $wp_object_cache;
	return $wp_object_cache->get( $key, $group, $force, $found );
}

function wp_cache_get_multiple( $keys, $group = '', $force = false ) {
	global $wp_object_cache;
	return $wp_object_cache->get_multiple( $keys, $group, $force );
}

function wp_cache_delete( $key, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->delete( $key, $group );
}

function wp_cache_delete_multiple( array $keys, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->delete_multiple( $keys, $group );
}

function wp_cache_incr( $key, $offset = 1, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->incr( $key, $offset, $group );
}

function wp_cache_decr( $key, $offset = 1, $group = '' ) {
	global $wp_object_cache;
	return $wp_object_cache->decr( $key, $offset, $group );
}

function wp_cache_flush() {
	global $wp_object_cache;
	return $wp_object_cache->flush();
}

function wp_cache_flush_runtime() {
	global $wp_object_cache;
	return $wp_object_cache->flush_runtime();
}

function wp_cache_flush_group( $group ) {
	global $wp_object_cache;
	return $wp_object_cache->flush_group( $group );
}

function wp_cache_supports( $feature ) {
	switch ( $feature ) {
		case 'add_multiple':
		case 'set_multiple':
		case 'get_multiple':
		case 'delete_multiple':
		case 'flush_runtime':
		case 'flush_group':
			return true;
		default:
			return false;
	}
}

function wp_cache_close() {
	global $wp_object_cache;
	return $wp_object_cache->close();
}

function wp_cache_add_global_groups( $groups ) {
	global $wp_object_cache;
	$wp_object_cache->add_global_groups( $groups );
}

function wp_cache_add_non_persistent_groups( $groups ) {
	global $wp_object_cache;
	$wp_object_cache->add_non_persistent_groups( $groups );
}

function wp_cache_switch_to_blog( $blog_id ) {
	global $wp_object_cache;
	$wp_object_cache->switch_to_blog( $blog_id );
}

/*
 * WP-CLI guesses the cache type from the properties of known drop-ins and
 * has no hook; `wp cache type` is replaced, once WordPress is loaded, by one
 * that asks wp_cache_get_type().
 */
if ( defined( 'WP_CLI' ) && WP_CLI && class_exists( 'WP_CLI' ) && method_exists( 'WP_CLI', 'add_hook' ) ) {
	WP_CLI::add_hook( 'after_wp_load', 'larder_register_cache_type_command' );
}

function larder_register_cache_type_command() {
	WP_CLI::add_command(
		'cache type',
		function () {
			WP_CLI::line( wp_cache_get_type() );
		},
		array( 'shortdesc' => 'Names the object cache in use.' )
	);
}

function wp_cache_reset() {
	if ( function_exists( '_deprecated_function' ) ) {
		_deprecated_function( __FUNCTION__, '3.5.0', 'wp_cache_switch_to_blog()' );
	}
	global $wp_object_cache;
	$wp_object_cache->reset();
}

/**
 * The object cache: a runtime array in front of one or more memcached
 * server groups ("buckets").  Public members follow WordPress core's class.
 */
class WP_Object_Cache {

	/** Longest key the memcached text protocol accepts. */
	const MAX_KEY_LENGTH = 250;

	/** Times the map update is retried when another request races us. */
	const CAS_RETRIES = 5;

	/** Default timeouts, in milliseconds; LARDER_TIMEOUT_MS overrides. */
	const TIMEOUT_MS = 200;

	/** Connect timeout cap, in milliseconds; LARDER_CONNECT_TIMEOUT_MS overrides. */
	const CONNECT_TIMEOUT_MS = 100;

	/** First and longest wait, in seconds, before a failed bucket is tried again. */
	const RETRY_MIN = 1.0;
	const RETRY_MAX = 30.0;

	/** Seconds between two log lines about failures (across requests); LARDER_LOG_INTERVAL overrides. */
	const LOG_INTERVAL = 60;

	/** The database option holding the database epoch (see the file comment). */
	const EPOCH_OPTION = 'larder_cache_epoch';

	/** File name of the guard must-use plugin. */
	const GUARD_FILE = 'larder-cache-guard.php';

	/** @var array Runtime cache: $cache[ $group ][ $blog_prefix . $key ] = value. */
	public $cache = array();

	/** @var int Lookups answered, from the runtime cache or the server. */
	public $cache_hits = 0;

	/** @var int Lookups that found nothing. */
	public $cache_misses = 0;

	/**
	 * @var array Finer counters, see get_stats().  Code outside may empty it
	 * (WordPress's test library sets it to array() before each test): every
	 * counter is created on first use.
	 */
	public $stats = array(
		'hits'          => 0,
		'misses'        => 0,
		'runtime_hits'  => 0,
		'server_hits'   => 0,
		'server_misses' => 0,
		'server_gets'   => 0,
		'server_writes' => 0,
		'server_errors' => 0,
		'new_epochs'    => 0,
	);

	/** @var array Kept for tools that reset it (WordPress's test library, WP-CLI); unused. */
	public $group_ops = array();

	/** @var array Kept for tools that reset it (WordPress's test library, WP-CLI); unused. */
	public $memcache_debug = array();

	/** @var array Groups shared by all sites of a network, as keys. */
	public $global_groups = array();

	/** @var array Groups kept in the runtime cache only, as keys. */
	public $no_mc_groups = array();

	/** @var string Blog id and ':' on multisite, '' otherwise. */
	public $blog_prefix = '';

	/** @var bool Whether this is a multisite install. */
	public $multisite = false;

	/** @var string WP_CACHE_KEY_SALT, put in front of every server key. */
	public $key_salt = '';

	/** @var array Server list per bucket, normalised: [ bucket => [ [host, port, weight], ... ] ]. */
	public $servers = array();

	/** @var Memcached[] One client per bucket. */
	protected $mc = array();

	/** @var array Buckets set aside: [ bucket => time (microtime) of the next try ]. */
	protected $down = array();

	/** @var array Buckets whose client was given its servers back in this request, as keys. */
	protected $revived = array();

	/** @var array Current back-off per bucket, in seconds. */
	protected $backoff = array();

	/** @var float When an offline cache tries its server again; INF when it never will (no extension, kill switch). */
	protected $offline_until = 0.0;

	/** @var bool LARDER_DISABLED: no server at all, WordPress works as without a drop-in. */
	protected $disabled = false;

	/** @var bool Whether persistent connections (php-memcached persistent ids) are used. */
	protected $persistent_connections = true;

	/** @var int LARDER_MAX_TTL: longest lifetime of an item, in seconds; 0 for no limit. */
	protected $max_ttl = 0;

	/** @var string|null The database epoch read in this request; null when not read or no database. */
	protected $db_epoch = null;

	/** @var array Connection errors seen per bucket in this request. */
	protected $failures = array();

	/** @var array|null The map: [ 'epoch' => string, 'groups' => [ group => version ] ]; null until loaded. */
	protected $map = null;

	/** @var bool True when nothing can reach a server; the runtime cache carries on alone. */
	protected $offline = false;

	/** @var bool True when offline because a server failed, rather than for want of the extension. */
	protected $broken = false;

	/** @var bool Whether the one error_log line of this request has been written. */
	protected $logged = false;

	/**
	 * Reads the configuration and creates (but does not connect) the clients.
	 * A missing extension is not fatal: the cache goes offline.
	 */
	public function __construct() {
		$this->multisite              = function_exists( 'is_multisite' ) && is_multisite();
		$this->blog_prefix            = $this->multisite ? $this->current_blog_id() . ':' : '';
		$this->key_salt               = defined( 'WP_CACHE_KEY_SALT' ) ? (string) WP_CACHE_KEY_SALT : '';
		$this->servers                = self::parse_servers( self::configured_servers() );
		$this->persistent_connections = ! defined( 'LARDER_PERSISTENT' ) || LARDER_PERSISTENT;
		$this->max_ttl                = defined( 'LARDER_MAX_TTL' ) ? max( 0, (int) LARDER_MAX_TTL ) : 0;
		if ( defined( 'LARDER_IGNORED_GROUPS' ) ) {
			$ignored = is_array( LARDER_IGNORED_GROUPS ) ? LARDER_IGNORED_GROUPS : explode( ',', (string) LARDER_IGNORED_GROUPS );
			$this->add_non_persistent_groups( array_filter( array_map( 'trim', $ignored ), 'strlen' ) );
		}

		if ( defined( 'LARDER_DISABLED' ) && LARDER_DISABLED ) {
			$this->disabled      = true;
			$this->offline       = true;
			$this->offline_until = INF;
			$this->mark_gap(); // Whatever happens now must not be served once re-enabled.
			return;
		}
		if ( ! class_exists( 'Memcached' ) ) {
			$this->go_offline( 'the PHP memcached extension is not loaded (install php-memcached)', INF );
			return;
		}
		$unsupported = self::unsupported_settings();
		if ( $unsupported ) {
			$this->go_offline( $unsupported . ' set, but this server connection cannot provide it yet; nothing is sent in the clear', INF );
			return;
		}
		foreach ( $this->servers as $bucket => $list ) {
			$this->mc[ $bucket ] = $this->make_client( $list );
		}
	}

	/**
	 * TLS and SASL are reserved settings: neither Larder nor the memcached
	 * text protocol through php-memcached offer them yet.  When one is set,
	 * the cache stays off rather than send data unprotected.
	 */
	protected static function unsupported_settings() {
		$set = array();
		foreach ( array( 'LARDER_TLS', 'LARDER_SASL_USERNAME', 'LARDER_SASL_PASSWORD' ) as $name ) {
			if ( defined( $name ) && constant( $name ) ) {
				$set[] = $name;
			}
		}
		return implode( ', ', $set );
	}

	/*
	 * ---- Configuration ------------------------------------------------
	 */

	/**
	 * The raw server setting: LARDER_SERVERS, else $memcached_servers, else
	 * the local default.
	 */
	protected static function configured_servers() {
		if ( defined( 'LARDER_SERVERS' ) ) {
			return LARDER_SERVERS;
		}
		if ( ! empty( $GLOBALS['memcached_servers'] ) ) {
			return $GLOBALS['memcached_servers'];
		}
		return array( '127.0.0.1:11211' );
	}

	/**
	 * Normalises every accepted form into [ bucket => [ [host, port, weight] ] ]:
	 * 'host:port' (also 'host:port:weight', '[::1]:port', 'unix:///path', '/path'),
	 * [host, port] or [host, port, weight], a comma-separated string of these,
	 * a flat list of these, or per-group lists [ 'default' => [...], 'group' => [...] ].
	 * The bucket 'default' always exists.
	 */
	public static function parse_servers( $config ) {
		if ( is_string( $config ) ) {
			$config = array_filter( array_map( 'trim', explode( ',', $config ) ), 'strlen' );
		}
		$config = (array) $config;

		$per_group = false;
		foreach ( $config as $k => $v ) {
			if ( is_string( $k ) && is_array( $v ) ) {
				$per_group = true;
			}
		}
		if ( ! $per_group || self::is_server_pair( $config ) ) {
			$config = array( 'default' => $config );
		}

		$buckets = array();
		foreach ( $config as $bucket => $list ) {
			if ( is_string( $list ) || self::is_server_pair( $list ) ) {
				$list = array( $list );
			}
			foreach ( (array) $list as $entry ) {
				$server = self::parse_server( $entry );
				if ( $server ) {
					$buckets[ (string) $bucket ][] = $server;
				}
			}
		}
		if ( empty( $buckets['default'] ) ) {
			$buckets['default'] = array( array( '127.0.0.1', 11211, 0 ) );
		}
		return $buckets;
	}

	/** Whether $v is one server written as [host, port(, weight)]. */
	protected static function is_server_pair( $v ) {
		return is_array( $v ) && isset( $v[0] ) && is_string( $v[0] ) && isset( $v[1] ) && is_numeric( $v[1] );
	}

	/** One server entry into [host, port, weight], or null when unreadable. */
	protected static function parse_server( $entry ) {
		if ( is_array( $entry ) ) {
			$entry = array_values( $entry );
			if ( ! isset( $entry[0] ) ) {
				return null;
			}
			return array( (string) $entry[0], (int) ( $entry[1] ?? 11211 ), (int) ( $entry[2] ?? 0 ) );
		}
		$entry = trim( (string) $entry );
		if ( '' === $entry ) {
			return null;
		}
		if ( 0 === strpos( $entry, 'unix://' ) ) {
			return array( substr( $entry, 7 ), 0, 0 );
		}
		if ( '/' === $entry[0] ) {
			return array( $entry, 0, 0 );
		}
		if ( preg_match( '/^\[([0-9a-fA-F:.]+)\](?::(\d+))?(?::(\d+))?$/', $entry, $m ) ) {
			return array( $m[1], (int) ( $m[2] ?? 11211 ) ?: 11211, (int) ( $m[3] ?? 0 ) );
		}
		$parts = explode( ':', $entry );
		if ( count( $parts ) > 3 ) { // A bare IPv6 address.
			return array( $entry, 11211, 0 );
		}
		return array( $parts[0], isset( $parts[1] ) ? (int) $parts[1] : 11211, isset( $parts[2] ) ? (int) $parts[2] : 0 );
	}

	/**
	 * A client for one bucket: text protocol (what Larder speaks), ketama
	 * consistent hashing, short timeouts, failed servers ejected.  With
	 * persistent connections (the default), the client and its sockets live
	 * as long as the PHP worker, under an id derived from the settings, so a
	 * request does not pay for a new TCP connection.
	 */
	protected function make_client( array $list ) {
		$ms      = defined( 'LARDER_TIMEOUT_MS' ) ? max( 1, (int) LARDER_TIMEOUT_MS ) : self::TIMEOUT_MS;
		$connect = defined( 'LARDER_CONNECT_TIMEOUT_MS' ) ? max( 1, (int) LARDER_CONNECT_TIMEOUT_MS ) : min( $ms, self::CONNECT_TIMEOUT_MS );
		if ( $this->persistent_connections ) {
			$mc = new Memcached( 'larder:' . md5( serialize( array( $list, $ms, $connect, LARDER_OBJECT_CACHE ) ) ) );
			if ( $mc->getServerList() ) {
				return $mc; // Set up by an earlier request of this worker.
			}
		} else {
			$mc = new Memcached();
		}
		$mc->setOptions(
			array(
				Memcached::OPT_BINARY_PROTOCOL       => false,
				Memcached::OPT_LIBKETAMA_COMPATIBLE  => true,
				Memcached::OPT_DISTRIBUTION          => Memcached::DISTRIBUTION_CONSISTENT,
				Memcached::OPT_SERIALIZER            => Memcached::SERIALIZER_PHP,
				Memcached::OPT_TCP_NODELAY           => true,
				Memcached::OPT_NO_BLOCK              => true,
				Memcached::OPT_CONNECT_TIMEOUT       => $connect,
				Memcached::OPT_POLL_TIMEOUT          => $ms,
				Memcached::OPT_SEND_TIMEOUT          => $ms * 1000,
				Memcached::OPT_RECV_TIMEOUT          => $ms * 1000,
				Memcached::OPT_SERVER_FAILURE_LIMIT  => 1,
				Memcached::OPT_REMOVE_FAILED_SERVERS => true,
				Memcached::OPT_RETRY_TIMEOUT         => 1,
			)
		);
		$mc->addServers( $list );
		return $mc;
	}

	protected function current_blog_id() {
		if ( function_exists( 'get_current_blog_id' ) ) {
			return (int) get_current_blog_id();
		}
		return isset( $GLOBALS['blog_id'] ) ? (int) $GLOBALS['blog_id'] : 1;
	}

	/*
	 * ---- The object-cache API -------------------------------------------
	 */

	/** Stores $data unless the key already exists. */
	public function add( $key, $data, $group = 'default', $expire = 0 ) {
		if ( function_exists( 'wp_suspend_cache_addition' ) && wp_suspend_cache_addition() ) {
			return false;
		}
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		if ( $this->in_runtime( $id, $group ) ) {
			return false;
		}
		if ( $this->persistent( $group ) ) {
			$ok = $this->server_write( 'add', $key, $group, $data, $expire );
			if ( null !== $ok ) {
				if ( $ok ) {
					$this->remember( $id, $group, $data );
				}
				return $ok;
			}
		}
		$this->remember( $id, $group, $data );
		return true;
	}

	/** add() for each item; returns [ key => bool ]. */
	public function add_multiple( array $data, $group = '', $expire = 0 ) {
		$result = array();
		foreach ( $data as $key => $value ) {
			$result[ $key ] = $this->add( $key, $value, $group, $expire );
		}
		return $result;
	}

	/** Stores $data only if the key already exists. */
	public function replace( $key, $data, $group = 'default', $expire = 0 ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		if ( $this->persistent( $group ) ) {
			$ok = $this->server_write( 'replace', $key, $group, $data, $expire );
			if ( null !== $ok ) {
				if ( $ok ) {
					$this->remember( $id, $group, $data );
				} else {
					unset( $this->cache[ $group ][ $id ] );
				}
				return $ok;
			}
		}
		if ( ! $this->in_runtime( $id, $group ) ) {
			return false;
		}
		$this->remember( $id, $group, $data );
		return true;
	}

	/** Stores $data, whether or not the key exists. */
	public function set( $key, $data, $group = 'default', $expire = 0 ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$this->remember( $this->id( $key, $group ), $group, $data );
		if ( $this->persistent( $group ) ) {
			$ok = $this->server_write( 'set', $key, $group, $data, $expire );
			if ( false === $ok ) {
				return false;
			}
		}
		return true;
	}

	/** set() for each item; returns [ key => bool ]. */
	public function set_multiple( array $data, $group = '', $expire = 0 ) {
		$result = array();
		foreach ( $data as $key => $value ) {
			$result[ $key ] = $this->set( $key, $value, $group, $expire );
		}
		return $result;
	}

	/**
	 * Returns the value, or false with $found = false on a miss.  $force
	 * skips the runtime cache and asks the server.
	 */
	public function get( $key, $group = 'default', $force = false, &$found = null ) {
		$found = false;
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		$ask   = $this->persistent( $group );

		if ( ( ! $force || ! $ask ) && $this->in_runtime( $id, $group ) ) {
			$found = true;
			$this->count_hit( 'runtime_hits' );
			return $this->copy( $this->cache[ $group ][ $id ] );
		}
		if ( $ask ) {
			$value = $this->server_get( $key, $group, $found );
			if ( $found ) {
				$this->remember( $id, $group, $value );
				$this->count_hit( 'server_hits' );
				return $value;
			}
			if ( $force ) {
				unset( $this->cache[ $group ][ $id ] );
			}
		}
		$this->count_miss();
		return false;
	}

	/**
	 * Returns [ key => value or false ] in the order of $keys; what the
	 * runtime cache lacks is fetched with one multi-get.
	 */
	public function get_multiple( $keys, $group = 'default', $force = false ) {
		$group  = $this->group( $group );
		$ask    = $this->persistent( $group );
		$result = array();
		$fetch  = array();

		foreach ( (array) $keys as $key ) {
			$result[ $key ] = false;
			if ( ! $this->is_valid_key( $key ) ) {
				continue;
			}
			$id = $this->id( $key, $group );
			if ( ( ! $force || ! $ask ) && $this->in_runtime( $id, $group ) ) {
				$result[ $key ] = $this->copy( $this->cache[ $group ][ $id ] );
				$this->count_hit( 'runtime_hits' );
			} elseif ( $ask ) {
				$fetch[ $key ] = $id;
			} else {
				$this->count_miss();
			}
		}
		if ( ! $fetch ) {
			return $result;
		}

		$found = $this->server_get_multi( array_keys( $fetch ), $group );
		foreach ( $fetch as $key => $id ) {
			if ( array_key_exists( $key, $found ) ) {
				$result[ $key ] = $found[ $key ];
				$this->remember( $id, $group, $found[ $key ] );
				$this->count_hit( 'server_hits' );
			} else {
				if ( $force ) {
					unset( $this->cache[ $group ][ $id ] );
				}
				$this->count_miss();
			}
		}
		return $result;
	}

	/** Removes the key; true when something was removed. */
	public function delete( $key, $group = 'default', $deprecated = false ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );
		$had   = $this->in_runtime( $id, $group );
		unset( $this->cache[ $group ][ $id ] );

		if ( $this->persistent( $group ) ) {
			$ok = $this->server_delete( $key, $group );
			if ( null !== $ok ) {
				return $ok;
			}
		}
		return $had;
	}

	/** delete() for each key; returns [ key => bool ]. */
	public function delete_multiple( array $keys, $group = '' ) {
		$result = array();
		foreach ( $keys as $key ) {
			$result[ $key ] = $this->delete( $key, $group );
		}
		return $result;
	}

	/** Adds $offset to a numeric value; false when the key does not exist. */
	public function incr( $key, $offset = 1, $group = 'default' ) {
		return $this->bump( $key, (int) $offset, $group );
	}

	/** Subtracts $offset, never going below 0; false when the key does not exist. */
	public function decr( $key, $offset = 1, $group = 'default' ) {
		return $this->bump( $key, -(int) $offset, $group );
	}

	/**
	 * Empties the cache of this site: the runtime array, and on the server a
	 * new epoch, which makes every older item of this key salt unreachable.
	 */
	public function flush() {
		$this->cache = array();
		if ( ! $this->load_map() ) {
			return ! $this->broken; // Without the extension there is nothing more to flush.
		}
		$map = $this->fresh_map();
		$mc  = $this->mc['default'];
		$ok  = $mc->set( $this->map_key(), $map );
		$this->check( 'default', 'flush' );
		if ( $ok ) {
			$this->map = $map;
		}
		return $ok;
	}

	/** Empties the runtime cache; the map is read again on next use. */
	public function flush_runtime() {
		$this->cache = array();
		$this->map   = null;
		return true;
	}

	/** Empties one group, by giving it a new version in the map. */
	public function flush_group( $group ) {
		$group = $this->group( $group );
		unset( $this->cache[ $group ] );
		if ( ! $this->persistent( $group ) ) {
			return true;
		}
		return $this->new_group_version( $group );
	}

	/** Gives a group a new version in the map, with CAS so that concurrent changes are kept. */
	protected function new_group_version( $group ) {
		$mc = $this->mc['default'];
		for ( $try = 0; $try < self::CAS_RETRIES; $try++ ) {
			$this->map = null;
			$cas       = null;
			if ( ! $this->load_map( $cas ) ) {
				return false;
			}
			$map                      = $this->map;
			$map['groups'][ $group ]  = self::token();
			$ok = $mc->cas( $cas, $this->map_key(), $map );
			if ( $ok ) {
				$this->map = $map;
				return true;
			}
			$code = $mc->getResultCode();
			$this->check( 'default', 'flush_group' );
			if ( Memcached::RES_DATA_EXISTS !== $code && Memcached::RES_NOTFOUND !== $code ) {
				break;
			}
		}
		$this->map = null;
		return false;
	}

	/** Marks groups as shared by all sites of a network. */
	public function add_global_groups( $groups ) {
		$groups              = array_fill_keys( (array) $groups, true );
		$this->global_groups = array_merge( $this->global_groups, $groups );
	}

	/** Marks groups as runtime-only: never sent to the server. */
	public function add_non_persistent_groups( $groups ) {
		$groups             = array_fill_keys( (array) $groups, true );
		$this->no_mc_groups = array_merge( $this->no_mc_groups, $groups );
	}

	/** Changes the blog id used in the keys of per-site groups. */
	public function switch_to_blog( $blog_id ) {
		$this->blog_prefix = $this->multisite ? (int) $blog_id . ':' : '';
	}

	/** Deprecated in WordPress 3.5: forgets the per-site groups of the runtime cache. */
	public function reset() {
		if ( function_exists( '_deprecated_function' ) ) {
			_deprecated_function( __FUNCTION__, '3.5.0', 'WP_Object_Cache::switch_to_blog()' );
		}
		foreach ( array_keys( $this->cache ) as $group ) {
			if ( ! isset( $this->global_groups[ $group ] ) ) {
				unset( $this->cache[ $group ] );
			}
		}
	}

	/** Closes the connections (persistent ones stay for the next request); the cache reconnects if used again. */
	public function close() {
		foreach ( $this->mc as $mc ) {
			if ( ! $mc->isPersistent() ) {
				$mc->quit();
			}
		}
		return true;
	}

	/** Prints hits, misses and the size of each runtime group, like core. */
	public function stats() {
		$esc = function_exists( 'esc_html' ) ? 'esc_html' : 'htmlspecialchars';
		echo '<p>';
		echo "<strong>Cache Hits:</strong> {$this->cache_hits}<br />";
		echo "<strong>Cache Misses:</strong> {$this->cache_misses}<br />";
		echo '<strong>Server:</strong> ' . ( $this->offline ? 'offline' : 'online' ) . '<br />';
		echo '</p>';
		echo '<ul>';
		foreach ( $this->cache as $group => $cache ) {
			echo '<li><strong>Group:</strong> ' . call_user_func( $esc, $group ) . ' - ( ' . number_format( strlen( serialize( $cache ) ) / 1024, 2 ) . 'k )</li>';
		}
		echo '</ul>';
	}

	/** Names of the counters of get_stats(). */
	const COUNTERS = array( 'hits', 'misses', 'runtime_hits', 'server_hits', 'server_misses', 'server_gets', 'server_writes', 'server_errors', 'new_epochs' );

	/** The counters as an array, with 'offline' and the hit ratio added. */
	public function get_stats() {
		$stats = array();
		foreach ( self::COUNTERS as $name ) {
			$stats[ $name ] = (int) ( $this->stats[ $name ] ?? 0 );
		}
		$lookups             = $stats['hits'] + $stats['misses'];
		$stats['ratio']      = $lookups ? $stats['hits'] / $lookups : 0.0;
		$stats['offline']    = $this->offline;
		$stats['disabled']   = $this->disabled;
		$stats['persistent'] = $this->persistent_connections;
		return $stats;
	}

	/** Whether the server side is unusable right now (it may be tried again later; see is_disabled()). */
	public function is_offline() {
		return $this->offline;
	}

	/** Whether LARDER_DISABLED switched the server side off. */
	public function is_disabled() {
		return $this->disabled;
	}

	/** The settings in effect, for the companion plugin's status page. */
	public function get_config() {
		return array(
			'servers'        => $this->servers,
			'key_salt'       => $this->key_salt,
			'persistent'     => $this->persistent_connections,
			'max_ttl'        => $this->max_ttl,
			'ignored_groups' => array_keys( $this->no_mc_groups ),
			'disabled'       => $this->disabled,
			'version'        => LARDER_OBJECT_CACHE,
		);
	}

	/** The Memcached client of a bucket, or null (offline, no extension). */
	public function get_client( $bucket = 'default' ) {
		return $this->mc[ $bucket ] ?? null;
	}

	/** The server key an API key maps to, for tests and debugging; null when offline. */
	public function server_key( $key, $group = 'default' ) {
		$group = $this->group( $group );
		return $this->persistent( $group ) ? $this->key( $key, $group ) : null;
	}

	/*
	 * ---- Runtime cache ---------------------------------------------------
	 */

	/** Same test as core: an int, or a string that is not blank. */
	protected function is_valid_key( $key ) {
		if ( is_int( $key ) || ( is_string( $key ) && '' !== trim( $key ) ) ) {
			return true;
		}
		if ( function_exists( '_doing_it_wrong' ) ) {
			$message = is_string( $key )
				? 'Cache key must not be an empty string.'
				: sprintf( 'Cache key must be integer or non-empty string, %s given.', gettype( $key ) );
			_doing_it_wrong( __CLASS__ . '::' . debug_backtrace( DEBUG_BACKTRACE_IGNORE_ARGS, 2 )[1]['function'], $message, '6.1.0' );
		}
		return false;
	}

	protected function group( $group ) {
		return ( '' === $group || null === $group || false === $group ) ? 'default' : (string) $group;
	}

	/** The runtime-cache id of a key: the blog prefix for per-site groups, as core does. */
	protected function id( $key, $group ) {
		if ( $this->multisite && ! isset( $this->global_groups[ $group ] ) ) {
			return $this->blog_prefix . $key;
		}
		return (string) $key;
	}

	protected function in_runtime( $id, $group ) {
		return isset( $this->cache[ $group ] ) && array_key_exists( $id, $this->cache[ $group ] );
	}

	/** Keeps a private copy, so that changing the caller's object later does not change the cache. */
	protected function remember( $id, $group, $data ) {
		$this->cache[ $group ][ $id ] = is_object( $data ) ? clone $data : $data;
	}

	/** Hands out a copy, so that changing the returned object does not change the cache. */
	protected function copy( $data ) {
		return is_object( $data ) ? clone $data : $data;
	}

	/** Adds to a counter, creating it if someone emptied $stats. */
	protected function count( $name, $n = 1 ) {
		$this->stats[ $name ] = ( $this->stats[ $name ] ?? 0 ) + $n;
	}

	protected function count_hit( $where ) {
		$this->cache_hits++;
		$this->count( 'hits' );
		$this->count( $where );
	}

	protected function count_miss() {
		$this->cache_misses++;
		$this->count( 'misses' );
	}

	/** Whether the group goes to the server (and the server is usable). */
	protected function persistent( $group ) {
		if ( isset( $this->no_mc_groups[ $group ] ) || ! $this->load_map() ) {
			return false;
		}
		$bucket = $this->bucket( $group );
		if ( ! isset( $this->down[ $bucket ] ) ) {
			return true;
		}
		if ( microtime( true ) < $this->down[ $bucket ] ) {
			return false;
		}
		// The back-off is over: try again.  Writes went around the server
		// meanwhile, so the group starts again under a new version.
		unset( $this->down[ $bucket ] );
		$this->failures[ $bucket ] = 0;
		$this->revive( $bucket );
		return $this->new_group_version( $bucket );
	}

	/*
	 * incr/decr.  The server does the arithmetic when it can (atomic across
	 * requests).  When the stored value is not a plain number (a float, a
	 * string) the server refuses, and the result is computed here as core
	 * does: a non-number counts as 0 and the result never goes below 0.
	 */
	protected function bump( $key, $offset, $group ) {
		if ( ! $this->is_valid_key( $key ) ) {
			return false;
		}
		$group = $this->group( $group );
		$id    = $this->id( $key, $group );

		if ( $this->persistent( $group ) ) {
			$bucket = $this->bucket( $group );
			$mc     = $this->mc[ $bucket ];
			$skey   = $this->key( $key, $group );
			$value  = $offset >= 0 ? $mc->increment( $skey, $offset ) : $mc->decrement( $skey, -$offset );
			$code   = $mc->getResultCode();
			$this->count( 'server_writes' );
			if ( Memcached::RES_SUCCESS === $code ) {
				$this->cache[ $group ][ $id ] = $value;
				return $value;
			}
			if ( Memcached::RES_NOTFOUND === $code ) {
				unset( $this->cache[ $group ][ $id ] );
				return false;
			}
			if ( $this->check( $bucket, 'incr' ) ) {
				$found = false;
				$old   = $this->server_get( $key, $group, $found );
				if ( ! $found ) {
					return false;
				}
				$new = max( 0, ( is_numeric( $old ) ? $old : 0 ) + $offset );
				$this->set( $key, $new, $group );
				return $new;
			}
		}

		if ( ! $this->in_runtime( $id, $group ) ) {
			return false;
		}
		$old                          = $this->cache[ $group ][ $id ];
		$new                          = max( 0, ( is_numeric( $old ) ? $old : 0 ) + $offset );
		$this->cache[ $group ][ $id ] = $new;
		return $new;
	}

	/*
	 * ---- Server side -----------------------------------------------------
	 */

	/** The bucket of a group: its own when configured, else 'default'. */
	protected function bucket( $group ) {
		return isset( $this->mc[ $group ] ) ? $group : 'default';
	}

	protected function map_key() {
		return $this->safe_key( $this->key_salt . 'larder:map' );
	}

	/**
	 * The server key of an API key: salt, epoch, group, group version, blog
	 * prefix, key.  The group is url-encoded so that it holds no ':' and two
	 * (group, key) pairs can never give the same string.
	 */
	protected function key( $key, $group ) {
		$version = isset( $this->map['groups'][ $group ] ) ? $this->map['groups'][ $group ] : '0';
		$full    = $this->key_salt . $this->map['epoch'] . ':' . rawurlencode( $group ) . ':' . $version . ':' . $this->id( $key, $group );
		return $this->safe_key( $full );
	}

	/**
	 * Keys the text protocol cannot carry (too long, spaces, control or
	 * non-ASCII bytes) are replaced by a hash of the whole key.
	 */
	protected function safe_key( $full ) {
		if ( strlen( $full ) <= self::MAX_KEY_LENGTH && preg_match( '/^[\x21-\x7e]+$/D', $full ) ) {
			return $full;
		}
		return 'larder:h:' . hash( 'sha256', $full );
	}

	/** A fresh random version string. */
	protected static function token() {
		return bin2hex( random_bytes( 6 ) );
	}

	/**
	 * Reads the map once per request, creating it with a new epoch when it is
	 * missing, or when it was written under another database epoch (see the
	 * file comment).  Returns false when the server is unusable: the default
	 * bucket cannot be reached (the cache then goes offline for a back-off)
	 * or the cache is offline.  $cas receives the map's CAS token.
	 */
	protected function load_map( &$cas = null ) {
		if ( $this->offline ) {
			if ( microtime( true ) < $this->offline_until ) {
				return false;
			}
			$this->offline  = false; // The back-off is over: try again, from scratch.
			$this->broken   = false;
			unset( $this->down['default'] );
			$this->revive( 'default' );
			$this->map      = null;
			$this->db_epoch = null;
		}
		if ( null !== $this->map ) {
			return true;
		}
		if ( null === $this->db_epoch ) {
			$this->db_epoch = $this->current_db_epoch();
		}
		$mc  = $this->mc['default'];
		$key = $this->map_key();
		for ( $try = 0; $try < self::CAS_RETRIES; $try++ ) {
			$got = $mc->get( $key, null, Memcached::GET_EXTENDED );
			$this->count( 'server_gets' );
			$code = $mc->getResultCode();
			if ( Memcached::RES_SUCCESS === $code && self::valid_map( $got['value'] ) && $this->map_is_current( $got['value'] ) ) {
				$this->map = $got['value'];
				$cas       = $got['cas'];
				unset( $this->backoff['default'] );
				return true;
			}
			if ( Memcached::RES_SUCCESS !== $code && Memcached::RES_NOTFOUND !== $code && ! $this->check( 'default', 'read the key map' ) ) {
				break;
			}
			$fresh = $this->fresh_map();
			if ( Memcached::RES_NOTFOUND === $code ) {
				// add() so that of two requests creating the map at once, one wins and both use its epoch.
				$mc->add( $key, $fresh );
			} else {
				// Unreadable or out of date: replace it, unless another request just did.
				$mc->cas( $got['cas'], $key, $fresh );
			}
			$this->count( 'server_writes' );
			$this->count( 'new_epochs' );
			if ( ! $this->check( 'default', 'create the key map' ) ) {
				break;
			}
		}
		if ( ! $this->offline ) {
			$this->broken = true;
			$this->go_offline( 'could not read or create the key map on ' . $this->describe( 'default' ) . ': ' . $mc->getResultMessage(), $this->set_aside( 'default' ) );
		}
		return false;
	}

	/** A map for a new epoch, recording the database epoch it is valid under. */
	protected function fresh_map() {
		$map = array(
			'epoch'  => self::token(),
			'groups' => array(),
		);
		if ( null !== $this->db_epoch ) {
			$map['db'] = $this->db_epoch;
		}
		return $map;
	}

	/** Whether the map's items were written under the current database epoch (always, outside WordPress). */
	protected function map_is_current( array $map ) {
		return null === $this->db_epoch || ( isset( $map['db'] ) && $map['db'] === $this->db_epoch );
	}

	/*
	 * ---- The database epoch ----------------------------------------------
	 *
	 * One row of the options table (of the main site on multisite), read and
	 * written with plain SQL: never through get_option(), whose answer would
	 * itself come from this cache.
	 */

	/** WordPress's database object, or null outside WordPress. */
	protected static function db() {
		global $wpdb;
		return ( isset( $wpdb ) && is_object( $wpdb ) && method_exists( $wpdb, 'get_var' ) ) ? $wpdb : null;
	}

	protected static function options_table( $db ) {
		$prefix = isset( $db->base_prefix ) ? $db->base_prefix : ( isset( $db->prefix ) ? $db->prefix : 'wp_' );
		return $prefix . 'options';
	}

	/**
	 * The database epoch as stored: a string, '' when there is no row, or
	 * null when there is no database or the query failed (during install).
	 */
	public static function read_db_epoch() {
		$db = self::db();
		if ( ! $db ) {
			return null;
		}
		$quiet = method_exists( $db, 'suppress_errors' ) ? $db->suppress_errors( true ) : null;
		$value = $db->get_var( 'SELECT option_value FROM ' . self::options_table( $db ) . " WHERE option_name = '" . self::EPOCH_OPTION . "' LIMIT 1" );
		$error = isset( $db->last_error ) ? (string) $db->last_error : '';
		if ( null !== $quiet ) {
			$db->suppress_errors( $quiet );
		}
		if ( null === $value ) {
			return '' === $error ? '' : null;
		}
		return (string) $value;
	}

	/**
	 * Replaces the database epoch $old (as read; '' for no row) by $new, only
	 * if it is still $old, and returns the value now stored.
	 */
	public static function write_db_epoch( $old, $new ) {
		$db = self::db();
		if ( ! $db ) {
			return null;
		}
		$table = self::options_table( $db );
		$quiet = method_exists( $db, 'suppress_errors' ) ? $db->suppress_errors( true ) : null;
		if ( '' === $old ) {
			$db->query( $db->prepare( "INSERT INTO $table (option_name, option_value, autoload) VALUES (%s, %s, 'no')", self::EPOCH_OPTION, $new ) );
		} else {
			$db->query( $db->prepare( "UPDATE $table SET option_value = %s WHERE option_name = %s AND option_value = %s", $new, self::EPOCH_OPTION, $old ) );
		}
		if ( null !== $quiet ) {
			$db->suppress_errors( $quiet );
		}
		return self::read_db_epoch();
	}

	/** Whether a database epoch says the cache was bypassed. */
	public static function is_gap( $epoch ) {
		return '' === $epoch || 0 === strpos( (string) $epoch, 'gap:' );
	}

	/**
	 * Records, once, that this request runs without the server, so that the
	 * items there are not trusted again.  Returns the database epoch.
	 */
	public static function mark_gap() {
		$epoch = self::read_db_epoch();
		if ( null === $epoch || '' === $epoch || 0 === strpos( $epoch, 'gap:' ) ) {
			return $epoch; // No database, no row (nothing recorded yet), or already marked.
		}
		return self::write_db_epoch( $epoch, 'gap:' . self::token() );
	}

	/**
	 * The database epoch this request works under: after a gap (or the very
	 * first time), a new one is recorded, and the guard is put in place.
	 */
	protected function current_db_epoch() {
		$epoch = self::read_db_epoch();
		if ( null === $epoch ) {
			return null;
		}
		if ( self::is_gap( $epoch ) ) {
			$epoch = self::write_db_epoch( $epoch, 'e:' . self::token() );
		}
		if ( null !== $epoch ) {
			$this->install_guard();
		}
		return $epoch;
	}

	/**
	 * Writes the guard must-use plugin if it is not there (one stat per
	 * request).  It runs in every request and, when this cache is not active,
	 * marks the gap.  LARDER_GUARD false turns this off.
	 */
	protected function install_guard() {
		if ( defined( 'LARDER_GUARD' ) && ! LARDER_GUARD ) {
			return;
		}
		$dir = defined( 'WPMU_PLUGIN_DIR' ) ? WPMU_PLUGIN_DIR : ( defined( 'WP_CONTENT_DIR' ) ? WP_CONTENT_DIR . '/mu-plugins' : null );
		if ( ! $dir || file_exists( $dir . '/' . self::GUARD_FILE ) ) {
			return;
		}
		if ( ! is_dir( $dir ) && ! @mkdir( $dir, 0755, true ) ) {
			$this->log( "could not create $dir for the guard plugin; see README.md, Coherence" );
			return;
		}
		$tmp = $dir . '/.' . self::GUARD_FILE . '.' . self::token();
		if ( false === @file_put_contents( $tmp, self::guard_source() ) || ! @rename( $tmp, $dir . '/' . self::GUARD_FILE ) ) {
			@unlink( $tmp );
			$this->log( "could not write $dir/" . self::GUARD_FILE . '; see README.md, Coherence' );
		}
	}

	/** The guard must-use plugin. */
	public static function guard_source() {
		$option = self::EPOCH_OPTION;
		return <<<PHP
<?php
/**
 * Plugin Name: Larder cache guard
 * Description: Written by the Larder object-cache drop-in.  In a request where that drop-in is not active (removed, replaced, disabled), marks the items on the cache server as out of date, so that they are never served once it is back.  Keep it while the drop-in may come back; it costs one small query per request without the drop-in, nothing with it.
 */
if ( ! defined( 'LARDER_OBJECT_CACHE_ACTIVE' ) && isset( \$GLOBALS['wpdb'] ) ) {
	\$larder_guard_table = \$GLOBALS['wpdb']->base_prefix . 'options';
	\$larder_guard_epoch = \$GLOBALS['wpdb']->get_var( "SELECT option_value FROM \$larder_guard_table WHERE option_name = '$option'" );
	if ( is_string( \$larder_guard_epoch ) && 0 !== strpos( \$larder_guard_epoch, 'gap:' ) ) {
		\$GLOBALS['wpdb']->query( \$GLOBALS['wpdb']->prepare( "UPDATE \$larder_guard_table SET option_value = %s WHERE option_name = '$option' AND option_value = %s", 'gap:' . bin2hex( random_bytes( 6 ) ), \$larder_guard_epoch ) );
	}
	unset( \$larder_guard_table, \$larder_guard_epoch );
}

PHP;
	}

	protected static function valid_map( $map ) {
		return is_array( $map ) && isset( $map['epoch'], $map['groups'] ) && is_string( $map['epoch'] ) && is_array( $map['groups'] );
	}

	/** Fetches one key; $found tells a stored false from a miss. */
	protected function server_get( $key, $group, &$found ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$value  = $mc->get( $this->key( $key, $group ) );
		$code   = $mc->getResultCode();
		$this->count( 'server_gets' );
		$found = ( Memcached::RES_SUCCESS === $code );
		if ( ! $found ) {
			$this->count( 'server_misses' );
			if ( Memcached::RES_NOTFOUND !== $code ) {
				$this->check( $bucket, 'get' );
			}
			return false;
		}
		return $value;
	}

	/** Fetches several keys of one group in one round trip; returns [ key => value ] for those found. */
	protected function server_get_multi( array $keys, $group ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$map    = array();
		foreach ( $keys as $key ) {
			$map[ $this->key( $key, $group ) ] = $key;
		}
		$got = $mc->getMulti( array_keys( $map ) );
		$this->count( 'server_gets' );
		if ( false === $got ) {
			$this->check( $bucket, 'get_multiple' );
			$got = array();
		}
		$found = array();
		foreach ( $got as $skey => $value ) {
			if ( isset( $map[ $skey ] ) ) {
				$found[ $map[ $skey ] ] = $value;
			}
		}
		$this->count( 'server_misses', count( $keys ) - count( $found ) );
		return $found;
	}

	/**
	 * add, replace or set on the server.  Returns true or false as the server
	 * answered, or null when the server could not be reached.  When a set is
	 * refused (item too large, out of memory), the old item is deleted so
	 * that it cannot be served stale.
	 */
	protected function server_write( $op, $key, $group, $data, $expire ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$skey   = $this->key( $key, $group );
		$ok     = $mc->$op( $skey, $data, $this->expiry( $expire ) );
		$code   = $mc->getResultCode();
		$this->count( 'server_writes' );
		if ( $ok ) {
			return true;
		}
		if ( Memcached::RES_NOTSTORED === $code || Memcached::RES_DATA_EXISTS === $code ) {
			return false;
		}
		$reached = $this->check( $bucket, $op );
		if ( 'add' === $op ) {
			return $reached ? false : null;
		}
		// The old item must not outlive a write that did not happen (refused,
		// or lost to a timeout): delete it, and if even that fails, stop
		// trusting the server.
		if ( $mc->delete( $skey ) || Memcached::RES_NOTFOUND === $mc->getResultCode() ) {
			return false;
		}
		if ( ! $this->check( $bucket, 'delete after a failed ' . $op ) ) {
			$this->give_up( $bucket, "$op and delete failed on " . $this->describe( $bucket ) . ': ' . $mc->getResultMessage() );
			return null;
		}
		return false;
	}

	/**
	 * Sets a bucket aside at once (a write may have been lost, so its items
	 * can be stale); for the default bucket the cache goes offline, which
	 * marks the database epoch.
	 */
	protected function give_up( $bucket, $reason ) {
		if ( isset( $this->down[ $bucket ] ) && microtime( true ) < $this->down[ $bucket ] ) {
			return; // Already set aside by check().
		}
		$until = $this->set_aside( $bucket );
		if ( 'default' === $bucket ) {
			$this->broken = true;
			$this->go_offline( $reason, $until );
		} else {
			$this->log( $reason . '; that group stays in the per-request cache for now' );
		}
	}

	/** Deletes on the server: true when deleted, false when absent, null when unreachable. */
	protected function server_delete( $key, $group ) {
		$bucket = $this->bucket( $group );
		$mc     = $this->mc[ $bucket ];
		$ok     = $mc->delete( $this->key( $key, $group ) );
		$this->count( 'server_writes' );
		if ( $ok ) {
			return true;
		}
		if ( Memcached::RES_NOTFOUND === $mc->getResultCode() ) {
			return false;
		}
		if ( $this->check( $bucket, 'delete' ) ) {
			return false;
		}
		$this->give_up( $bucket, 'delete failed on ' . $this->describe( $bucket ) . ': ' . $mc->getResultMessage() );
		return null;
	}

	/**
	 * WordPress expirations are seconds from now; memcached reads values over
	 * 30 days as a Unix time, so those are converted.  LARDER_MAX_TTL caps
	 * every lifetime, "forever" included.
	 */
	protected function expiry( $expire ) {
		$expire = (int) $expire;
		if ( $this->max_ttl && ( $expire <= 0 || $expire > $this->max_ttl ) ) {
			$expire = $this->max_ttl;
		}
		if ( $expire <= 0 ) {
			return 0;
		}
		return $expire > 2592000 ? time() + $expire : $expire;
	}

	/*
	 * ---- Failure handling ------------------------------------------------
	 */

	/**
	 * Looks at the result of the last call on a bucket's client.  Returns
	 * true when the server answered (even with an error), false when it
	 * could not be reached.  After enough connection errors the bucket is
	 * set aside for a back-off (1 s, then twice as long each time up to
	 * 30 s); if it is the default bucket, which holds the map, the whole
	 * cache goes offline for that time.
	 */
	protected function check( $bucket, $what ) {
		$mc   = $this->mc[ $bucket ];
		$code = $mc->getResultCode();
		if ( ! self::is_connection_error( $code ) ) {
			if ( Memcached::RES_SUCCESS !== $code ) {
				$this->count( 'server_errors' );
			}
			return true;
		}
		$this->count( 'server_errors' );
		if ( Memcached::RES_SERVER_MARKED_DEAD === $code && empty( $this->revived[ $bucket ] ) && 1 === count( $this->servers[ $bucket ] ) ) {
			// Ejected in an earlier request of this worker: try it once in this one.  (With
			// several servers, the others take its keys until the back-off ends.)
			$this->revive( $bucket );
		}
		$this->failures[ $bucket ] = ( $this->failures[ $bucket ] ?? 0 ) + 1;
		$limit                     = count( $this->servers[ $bucket ] ) + 1;
		if ( Memcached::RES_NO_SERVERS === $code || $this->failures[ $bucket ] >= $limit ) {
			$this->set_aside( $bucket );
			$reason = sprintf( '%s failed on %s: %s', $what, $this->describe( $bucket ), $mc->getResultMessage() );
			if ( 'default' === $bucket ) {
				$this->broken = true;
				$this->go_offline( $reason, $this->down[ $bucket ] );
			} else {
				$this->log( $reason . '; that group stays in the per-request cache for now' );
			}
		}
		return false;
	}

	/**
	 * Gives a bucket's client its servers back.  libmemcached, once it has
	 * ejected a server, answers "SERVER IS MARKED DEAD" for as long as the
	 * client lives (a whole PHP worker, with persistent connections), so a
	 * new try starts from a fresh server list.
	 */
	protected function revive( $bucket ) {
		$mc = $this->mc[ $bucket ];
		$mc->resetServerList();
		$mc->addServers( $this->servers[ $bucket ] );
		$this->revived[ $bucket ] = true;
	}

	/** Sets a bucket aside for its next back-off; returns when it will be tried again. */
	protected function set_aside( $bucket ) {
		$wait                      = min( self::RETRY_MAX, isset( $this->backoff[ $bucket ] ) ? 2 * $this->backoff[ $bucket ] : self::RETRY_MIN );
		$this->backoff[ $bucket ]  = $wait;
		$this->down[ $bucket ]     = microtime( true ) + $wait;
		$this->failures[ $bucket ] = 0;
		return $this->down[ $bucket ];
	}

	/**
	 * The back-off state, for tests and the status page:
	 * [ bucket => [ 'wait' => current back-off, 'retry_in' => seconds until the next try ] ].
	 */
	public function get_backoff() {
		$now = microtime( true );
		$out = array();
		foreach ( $this->down as $bucket => $at ) {
			$out[ $bucket ] = array(
				'wait'     => $this->backoff[ $bucket ] ?? 0.0,
				'retry_in' => max( 0.0, $at - $now ),
			);
		}
		return $out;
	}

	protected static function is_connection_error( $code ) {
		switch ( $code ) {
			case Memcached::RES_HOST_LOOKUP_FAILURE:
			case Memcached::RES_CONNECTION_FAILURE:
			case Memcached::RES_CONNECTION_BIND_FAILURE:
			case Memcached::RES_WRITE_FAILURE:
			case Memcached::RES_READ_FAILURE:
			case Memcached::RES_UNKNOWN_READ_FAILURE:
			case Memcached::RES_ERRNO:
			case Memcached::RES_TIMEOUT:
			case Memcached::RES_NO_SERVERS:
			case Memcached::RES_SERVER_MARKED_DEAD:
			case Memcached::RES_SERVER_TEMPORARILY_DISABLED:
			case Memcached::RES_CONNECTION_SOCKET_CREATE_FAILURE:
			case Memcached::RES_FAIL_UNIX_SOCKET:
			case Memcached::RES_IN_PROGRESS:
				return true;
			default:
				return false;
		}
	}

	protected function describe( $bucket ) {
		$names = array();
		foreach ( $this->servers[ $bucket ] as $s ) {
			$names[] = $s[1] ? $s[0] . ':' . $s[1] : $s[0];
		}
		return implode( ', ', $names );
	}

	/**
	 * Stops using the server until $until (microtime; INF: for good) and logs
	 * why.  When a server failed, the database epoch is marked: what this
	 * request writes does not reach the server, whose items may then be stale.
	 */
	protected function go_offline( $reason, $until = INF ) {
		$this->offline       = true;
		$this->offline_until = $until;
		$this->map           = null;
		if ( $this->broken ) {
			self::mark_gap();
		}
		$this->log( $reason . '; WordPress carries on with a per-request cache only' );
	}

	/**
	 * One error_log line per request at most, and one per LARDER_LOG_INTERVAL
	 * seconds (60) for the same settings across requests: a stamp file in
	 * LARDER_STATE_DIR (the temporary directory) remembers the last one.
	 */
	protected function log( $message ) {
		if ( $this->logged ) {
			return;
		}
		$this->logged = true;
		$interval     = defined( 'LARDER_LOG_INTERVAL' ) ? max( 0, (int) LARDER_LOG_INTERVAL ) : self::LOG_INTERVAL;
		$stamp        = self::log_stamp_file( $this->key_salt . '|' . serialize( $this->servers ) );
		clearstatcache( true, $stamp );
		$last = @filemtime( $stamp );
		if ( false !== $last && time() - $last < $interval ) {
			return;
		}
		@touch( $stamp );
		error_log( 'Larder object cache: ' . $message );
	}

	/** Where the time of the last log line for one configuration is kept. */
	public static function log_stamp_file( $config ) {
		$dir = defined( 'LARDER_STATE_DIR' ) ? LARDER_STATE_DIR : sys_get_temp_dir();
		return rtrim( $dir, '/' ) . '/larder-object-cache-' . md5( $config ) . '.log-stamp';
	}
}
