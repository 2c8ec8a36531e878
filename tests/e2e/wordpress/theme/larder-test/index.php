<?php
/**
 * One template for every view: the loop, the categories and the archives,
 * enough for WordPress to use the object cache the way a real theme does.
 */
?><!DOCTYPE html>
<html <?php language_attributes(); ?>>
<head>
<meta charset="<?php bloginfo( 'charset' ); ?>">
<title><?php echo esc_html( wp_get_document_title() ); ?></title>
<?php wp_head(); ?>
</head>
<body <?php body_class(); ?>>
<h1 class="site-title"><?php bloginfo( 'name' ); ?></h1>
<p class="site-description"><?php bloginfo( 'description' ); ?></p>
<?php if ( is_category() ) : ?>
<h2 class="archive-title">Category: <?php single_cat_title(); ?></h2>
<?php endif; ?>
<main>
<?php while ( have_posts() ) : the_post(); ?>
<article id="post-<?php the_ID(); ?>">
<h2 class="entry-title"><a href="<?php the_permalink(); ?>"><?php the_title(); ?></a></h2>
<div class="entry-content"><?php the_content(); ?></div>
<p class="entry-meta"><?php the_author(); ?> | <?php the_category( ', ' ); ?> | <?php the_tags(); ?> | <?php comments_number(); ?></p>
<?php if ( is_singular() ) : ?>
<ol class="comments"><?php wp_list_comments( array(), get_comments( array( 'post_id' => get_the_ID(), 'status' => 'approve' ) ) ); ?></ol>
<?php endif; ?>
</article>
<?php endwhile; ?>
</main>
<aside>
<ul class="categories"><?php wp_list_categories( array( 'title_li' => '' ) ); ?></ul>
<ul class="recent"><?php wp_get_archives( array( 'type' => 'postbypost', 'limit' => 5 ) ); ?></ul>
<ul class="archives"><?php wp_get_archives(); ?></ul>
</aside>
<?php wp_footer(); ?>
</body>
</html>
