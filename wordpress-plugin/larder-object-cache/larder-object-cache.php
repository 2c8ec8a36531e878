<?php
/**
 * Plugin Name: Larder Object Cache
 * Description: Status, Enable/Disable, Site Health and WP-CLI (`wp larder`) for the Larder object-cache and page-cache drop-ins.
 * Version:     1.1.0
 * Requires PHP: 7.4
 * Requires at least: 6.1
 * License:     GPL-2.0-or-later
 *
 * Works as a normal plugin (wp-content/plugins/larder-object-cache/) or as
 * a must-use plugin (copy the folder into wp-content/mu-plugins/ and add a
 * one-line loader there that requires this file).  Everything it does goes
 * through Larder_Manager; see README.md beside the drop-ins.
 */

defined( 'ABSPATH' ) || exit;

require_once __DIR__ . '/includes/class-larder-manager.php';
require_once __DIR__ . '/includes/class-larder-cli.php';

/** Settings → Larder: the status page and its buttons. */
class Larder_Admin {

	const ACTIONS = array( 'enable', 'disable', 'enable-page', 'disable-page', 'flush' );

	public static function boot() {
		add_action( 'admin_menu', array( __CLASS__, 'menu' ) );
		add_action( 'admin_post_larder', array( __CLASS__, 'handle' ) );
		add_filter( 'site_status_tests', array( __CLASS__, 'site_health' ) );
	}

	public static function menu() {
		add_options_page( 'Larder cache', 'Larder', 'manage_options', 'larder', array( __CLASS__, 'page' ) );
	}

	/** Site Health: the three direct tests of Larder_Manager::health(). */
	public static function site_health( $tests ) {
		foreach ( array( 'server', 'dropin', 'ratio' ) as $name ) {
			$tests['direct'][ 'larder_' . $name ] = array(
				'label' => 'Larder ' . $name,
				'test'  => function () use ( $name ) {
					static $results = null;
					$results = $results ?? ( new Larder_Manager() )->health();
					return $results[ $name ];
				},
			);
		}
		return $tests;
	}

	/** The Enable/Disable/Flush buttons post here (admin-post.php?action=larder). */
	public static function handle() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( 'Not allowed.', 403 );
		}
		check_admin_referer( 'larder' );
		$do      = sanitize_key( $_POST['larder_do'] ?? '' );
		$manager = new Larder_Manager();
		switch ( $do ) {
			case 'enable':
			case 'enable-page':
				$result = $manager->enable( 'enable' === $do ? 'object' : 'page', ! empty( $_POST['force'] ) );
				break;
			case 'disable':
			case 'disable-page':
				$result = $manager->disable( 'disable' === $do ? 'object' : 'page' );
				break;
			case 'flush':
				$result = $manager->flush();
				break;
			default:
				$result = array( false, 'unknown action' );
		}
		set_transient( 'larder_notice_' . get_current_user_id(), $result, 60 );
		wp_safe_redirect( admin_url( 'options-general.php?page=larder' ) );
		exit;
	}

	public static function page() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$manager = new Larder_Manager();
		$notice  = get_transient( 'larder_notice_' . get_current_user_id() );
		if ( $notice ) {
			delete_transient( 'larder_notice_' . get_current_user_id() );
			printf( '<div class="notice notice-%s"><p>%s</p></div>', $notice[0] ? 'success' : 'error', esc_html( ucfirst( $notice[1] ) ) );
		}
		echo '<div class="wrap"><h1>Larder cache</h1>';
		echo '<h2>Drop-ins</h2><table class="widefat striped"><tbody>';
		foreach ( array( 'object' => 'Object cache', 'page' => 'Page cache' ) as $kind => $label ) {
			$d     = $manager->dropin( $kind );
			$state = ! $d['installed'] ? 'not installed' : ( ! $d['ours'] ? 'another plugin\'s drop-in' : 'version ' . $d['version'] . ( $d['outdated'] ? ' (outdated: ' . $d['bundled'] . ' available)' : '' ) );
			if ( 'page' === $kind && $d['ours'] && ! $d['wp_cache'] ) {
				$state .= ' — off: add define( \'WP_CACHE\', true ); to wp-config.php';
			}
			echo '<tr><th>' . esc_html( $label ) . '</th><td>' . esc_html( $state ) . '</td><td>';
			self::button( $d['ours'] ? ( 'object' === $kind ? 'disable' : 'disable-page' ) : ( 'object' === $kind ? 'enable' : 'enable-page' ), $d['ours'] ? 'Disable' : 'Enable' );
			if ( $d['outdated'] ) {
				self::button( 'object' === $kind ? 'enable' : 'enable-page', 'Update' );
			}
			echo '</td></tr>';
		}
		echo '<tr><th>Cache type</th><td colspan="2">' . esc_html( function_exists( 'wp_cache_get_type' ) ? wp_cache_get_type() : 'Default' ) . '</td></tr>';
		echo '</tbody></table>';

		echo '<h2>Servers</h2><table class="widefat striped"><thead><tr><th>Server</th><th>Status</th><th>Version</th><th>Hit ratio</th><th>Memory used / limit</th><th>Evictions</th><th>Items</th></tr></thead><tbody>';
		foreach ( $manager->servers() as $s ) {
			printf(
				'<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
				esc_html( $s['address'] ),
				esc_html( $s['connected'] ? 'connected' : 'down: ' . $s['error'] ),
				esc_html( $s['version'] ),
				esc_html( null === $s['hit_ratio'] ? '-' : sprintf( '%.1f%%', 100 * $s['hit_ratio'] ) ),
				esc_html( Larder_CLI::size( $s['bytes'] ) . ' / ' . Larder_CLI::size( $s['limit'] ) ),
				esc_html( number_format_i18n( $s['evictions'] ) ),
				esc_html( number_format_i18n( $s['items'] ) )
			);
		}
		echo '</tbody></table>';
		global $wp_object_cache;
		if ( is_object( $wp_object_cache ) && method_exists( $wp_object_cache, 'get_stats' ) ) {
			$st = $wp_object_cache->get_stats();
			printf( '<p>This page: %d lookups, %.1f%% hits (%d from the server, %d from memory).</p>', $st['hits'] + $st['misses'], 100 * $st['ratio'], $st['server_hits'], $st['runtime_hits'] );
		}
		echo '<p>';
		self::button( 'flush', 'Flush the caches' );
		echo '</p></div>';
	}

	protected static function button( $do, $label ) {
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '" style="display:inline">';
		wp_nonce_field( 'larder' );
		echo '<input type="hidden" name="action" value="larder"><input type="hidden" name="larder_do" value="' . esc_attr( $do ) . '">';
		submit_button( $label, 'secondary', 'submit', false );
		echo '</form> ';
	}
}

Larder_Admin::boot();

/*
 * Deactivating the plugin removes its drop-ins (only Larder's), marking the
 * database epoch first so that nothing cached now is served after a later
 * re-install.
 */
if ( function_exists( 'register_deactivation_hook' ) ) {
	register_deactivation_hook(
		__FILE__,
		function () {
			$manager = new Larder_Manager();
			$manager->disable( 'page' );
			$manager->disable( 'object' );
		}
	);
}
